//! Money: integer micro-dollars inside, JSON numbers of at most six decimals outside.

/// Micro-dollars in one dollar.
const MICROS: f64 = 1_000_000.0;

/// The largest amount accepted anywhere, in dollars: far above any real price or budget, and
/// low enough that sums of micro-dollars stay exact in both i64 and a JSON double.
pub const MAX_USD: f64 = 1_000_000_000.0;

/// Converts micro-dollars to the JSON number clients see (`33000` becomes `0.033`).
pub fn to_usd(micros: i64) -> f64 {
    micros as f64 / MICROS
}

/// Converts dollars to micro-dollars, refusing negative, huge or sub-micro amounts.
pub fn usd_to_micros(usd: f64) -> Result<i64, String> {
    if !(0.0..=MAX_USD).contains(&usd) {
        return Err(format!("must be between 0 and {MAX_USD}, got {usd}"));
    }

    let micros = (usd * MICROS).round();
    // The round trip is exact exactly when the decimal had at most six places.
    if micros / MICROS != usd {
        return Err(format!("has more than 6 decimals: {usd}"));
    }
    Ok(micros as i64)
}

/// Converts a cost an agent computed to micro-dollars, rounding to the nearest one: agents sum
/// prices in floating point (0.1 + 0.2 is 0.30000000000000004), and a run must not fail
/// over noise far below a micro-dollar.
pub fn usd_to_nearest_micros(usd: f64) -> Result<i64, String> {
    if !(0.0..=MAX_USD).contains(&usd) {
        return Err(format!("must be between 0 and {MAX_USD}, got {usd}"));
    }
    Ok((usd * MICROS).round() as i64)
}

/// The cost of a run priced per million tokens, rounded to the nearest micro-dollar.
pub fn price_tokens(
    input_tokens: i64,
    output_tokens: i64,
    input_micros_per_million: i64,
    output_micros_per_million: i64,
) -> i64 {
    let total = input_tokens as i128 * input_micros_per_million as i128
        + output_tokens as i128 * output_micros_per_million as i128;
    ((total + 500_000) / 1_000_000).min(i64::MAX as i128) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_the_contract_example() {
        assert_eq!(price_tokens(1000, 2000, 3_000_000, 15_000_000), 33_000);
        assert_eq!(to_usd(33_000), 0.033);
    }

    #[test]
    fn refuses_sub_micro_amounts() {
        assert_eq!(usd_to_micros(0.033), Ok(33_000));
        assert!(usd_to_micros(0.000_000_1).is_err());
        assert!(usd_to_micros(-1.0).is_err());
    }
}

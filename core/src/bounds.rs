//! Rules a configured value must keep: a minimum, a maximum, an order between two.

/// A configured value that breaks a rule, with the values compared.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BoundError {
    /// A value is below its minimum.
    #[error("{field} is {value}, the minimum is {min}")]
    TooSmall {
        /// Field name.
        field: &'static str,
        /// Value given.
        value: u64,
        /// Minimum.
        min: u64,
    },
    /// A value is above its maximum.
    #[error("{field} is {value}, the maximum is {max}")]
    TooLarge {
        /// Field name.
        field: &'static str,
        /// Value given.
        value: u64,
        /// Maximum.
        max: u64,
    },
    /// Two values are in the wrong order.
    #[error("{smaller} ({smaller_value}) must be less than {larger} ({larger_value})")]
    Order {
        /// Field that must be smaller.
        smaller: &'static str,
        /// Its value.
        smaller_value: u64,
        /// Field that must be larger.
        larger: &'static str,
        /// Its value.
        larger_value: u64,
    },
}

/// `value` is at least `min`.
pub fn at_least(field: &'static str, value: u64, min: u64) -> Result<(), BoundError> {
    if value < min {
        return Err(BoundError::TooSmall { field, value, min });
    }
    Ok(())
}

/// `value` is at most `max`.
pub fn at_most(field: &'static str, value: u64, max: u64) -> Result<(), BoundError> {
    if value > max {
        return Err(BoundError::TooLarge { field, value, max });
    }
    Ok(())
}

/// The first value is below the second.
pub fn ordered(smaller: (&'static str, u64), larger: (&'static str, u64)) -> Result<(), BoundError> {
    if smaller.1 >= larger.1 {
        return Err(BoundError::Order {
            smaller: smaller.0,
            smaller_value: smaller.1,
            larger: larger.0,
            larger_value: larger.1,
        });
    }
    Ok(())
}

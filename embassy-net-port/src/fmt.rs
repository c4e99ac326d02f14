//! Log lines through defmt with the `defmt` feature, and nowhere without it
//! (the arguments are still type-checked, then optimized away).

macro_rules! debug {
    ($($arg:tt)*) => {{
        #[cfg(feature = "defmt")]
        ::defmt::debug!($($arg)*);
        #[cfg(not(feature = "defmt"))]
        let _ = ::core::format_args!($($arg)*);
    }};
}

macro_rules! warning {
    ($($arg:tt)*) => {{
        #[cfg(feature = "defmt")]
        ::defmt::warn!($($arg)*);
        #[cfg(not(feature = "defmt"))]
        let _ = ::core::format_args!($($arg)*);
    }};
}

pub(crate) use {debug, warning};

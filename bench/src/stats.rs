//! Medians and ranges of repeated measurements.

use std::time::Duration;

/// Repeated measurements of one thing.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    values: Vec<Duration>,
}

impl Sample {
    /// Adds a measurement.
    pub fn push(&mut self, d: Duration) {
        self.values.push(d);
    }

    fn sorted(&self) -> Vec<Duration> {
        let mut v = self.values.clone();
        v.sort();
        v
    }

    /// The median (mean of the two middle values for an even count).
    pub fn median(&self) -> Duration {
        let v = self.sorted();
        match v.len() {
            0 => Duration::ZERO,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2,
        }
    }

    /// The smallest value.
    pub fn min(&self) -> Duration {
        self.sorted().first().copied().unwrap_or_default()
    }

    /// The largest value.
    pub fn max(&self) -> Duration {
        self.sorted().last().copied().unwrap_or_default()
    }

    /// `median (min–max)` in seconds.
    pub fn show(&self) -> String {
        format!(
            "{:.2} s ({:.2}–{:.2})",
            self.median().as_secs_f64(),
            self.min().as_secs_f64(),
            self.max().as_secs_f64()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max() {
        let mut s = Sample::default();
        for ms in [30, 10, 20, 40] {
            s.push(Duration::from_millis(ms));
        }
        assert_eq!(s.median(), Duration::from_millis(25));
        assert_eq!(s.min(), Duration::from_millis(10));
        assert_eq!(s.max(), Duration::from_millis(40));
        s.push(Duration::from_millis(50));
        assert_eq!(s.median(), Duration::from_millis(30));
        assert_eq!(s.show(), "0.03 s (0.01–0.05)");
    }
}

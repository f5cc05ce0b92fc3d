//! The limits a plugin call runs under, and how an operator changes them.
//!
//! Three layers, each overriding the one before field by field: the server's
//! defaults ([`Limits::default`], some set by `serve` flags), the tenant's
//! overrides, and the slot version's overrides. Every override is checked
//! against [`LimitOverrides::check`]'s bounds, so no layer can switch a limit
//! off.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Limits each plugin call runs under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock budget for one slot call.
    pub deadline: Duration,
    /// Wall-clock budget for making an instance: instantiation plus `init`
    /// (which may build a model from its config). Paid once per instance.
    pub init_deadline: Duration,
    /// Linear memory cap per instance.
    pub memory_bytes: usize,
    /// Instruction budget (wasmtime fuel, about one unit per wasm operator)
    /// for one slot call. Unlike the deadline it does not depend on how busy
    /// the machine is: a plugin that fits its fuel on a quiet machine fits it
    /// on a loaded one.
    pub fuel: u64,
    /// Instruction budget for instantiation plus `init`.
    pub init_fuel: u64,
    /// Cap on the size of what one call returns (strings and list items, summed).
    pub output_bytes: usize,
    /// Log bytes one call may write; the rest is dropped and counted.
    pub log_bytes: usize,
    /// Host imports one call may make.
    pub host_calls: u32,
    /// Warm instances kept per binding.
    pub pool_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_millis(50),
            init_deadline: Duration::from_secs(2),
            memory_bytes: 64 << 20,
            // Every demo conversation in the tests runs within these; the
            // `fuel` field of decision traces shows what a plugin really uses.
            fuel: 20_000_000,
            init_fuel: 2_000_000_000,
            output_bytes: 64 << 10,
            log_bytes: 4 << 10,
            host_calls: 1_000,
            pool_size: 8,
        }
    }
}

impl Limits {
    /// These limits with `overrides` applied on top.
    pub fn with(mut self, overrides: &LimitOverrides) -> Limits {
        let o = overrides;
        if let Some(ms) = o.deadline_ms {
            self.deadline = Duration::from_millis(ms);
        }
        if let Some(ms) = o.init_deadline_ms {
            self.init_deadline = Duration::from_millis(ms);
        }
        if let Some(b) = o.memory_bytes {
            self.memory_bytes = b as usize;
        }
        if let Some(f) = o.fuel {
            self.fuel = f;
        }
        if let Some(f) = o.init_fuel {
            self.init_fuel = f;
        }
        if let Some(b) = o.output_bytes {
            self.output_bytes = b as usize;
        }
        if let Some(b) = o.log_bytes {
            self.log_bytes = b as usize;
        }
        if let Some(n) = o.host_calls {
            self.host_calls = n;
        }
        self
    }

    /// The most data the host copies out of a plugin in one crossing (a
    /// result, or the arguments of one import call). Lifting a result
    /// allocates on the host *before* the output cap can look at it, and a
    /// list of strings that all point at the same bytes would make that
    /// allocation far larger than the plugin's memory; wasmtime's hostcall
    /// fuel bounds it. The factor leaves room for the host-side size of list
    /// items, which is larger than their encoded size.
    pub fn transfer_bytes(&self) -> usize {
        self.output_bytes.saturating_mul(16).max(1 << 20)
    }

    /// As JSON for the API, in the same units as [`LimitOverrides`].
    pub fn view(&self) -> LimitOverrides {
        LimitOverrides {
            deadline_ms: Some(self.deadline.as_millis() as u64),
            init_deadline_ms: Some(self.init_deadline.as_millis() as u64),
            memory_bytes: Some(self.memory_bytes as u64),
            fuel: Some(self.fuel),
            init_fuel: Some(self.init_fuel),
            output_bytes: Some(self.output_bytes as u64),
            log_bytes: Some(self.log_bytes as u64),
            host_calls: Some(self.host_calls),
        }
    }
}

/// Limits an operator sets for a tenant or for one slot version; a field left
/// out keeps the value of the layer below.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_deadline_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_fuel: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_calls: Option<u32>,
}

/// Allowed range of each limit: a limit can be tightened or loosened, never
/// switched off.
const BOUNDS: [(&str, u64, u64); 8] = [
    ("deadline_ms", 1, 10_000),
    ("init_deadline_ms", 1, 60_000),
    ("memory_bytes", 1 << 20, 4 << 30),
    ("fuel", 1_000, 100_000_000_000),
    ("init_fuel", 1_000, 1_000_000_000_000),
    ("output_bytes", 1 << 10, 16 << 20),
    ("log_bytes", 0, 1 << 20),
    ("host_calls", 0, 1_000_000),
];

impl LimitOverrides {
    pub fn is_empty(&self) -> bool {
        self == &LimitOverrides::default()
    }

    fn fields(&self) -> [Option<u64>; 8] {
        [
            self.deadline_ms,
            self.init_deadline_ms,
            self.memory_bytes,
            self.fuel,
            self.init_fuel,
            self.output_bytes,
            self.log_bytes,
            self.host_calls.map(u64::from),
        ]
    }

    /// Every value inside its allowed range, or a message naming the first
    /// that is not.
    pub fn check(&self) -> Result<(), String> {
        for (value, (name, low, high)) in self.fields().into_iter().zip(BOUNDS) {
            if let Some(v) = value
                && !(low..=high).contains(&v)
            {
                return Err(format!("limit {name} = {v} is outside {low}..={high}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_override_field_by_field() {
        let tenant = LimitOverrides {
            fuel: Some(5_000),
            memory_bytes: Some(8 << 20),
            ..Default::default()
        };
        let version = LimitOverrides {
            fuel: Some(9_000),
            ..Default::default()
        };
        let limits = Limits::default().with(&tenant).with(&version);
        assert_eq!(limits.fuel, 9_000);
        assert_eq!(limits.memory_bytes, 8 << 20);
        assert_eq!(limits.deadline, Limits::default().deadline);
    }

    #[test]
    fn out_of_range_values_are_named() {
        let zero_deadline = LimitOverrides {
            deadline_ms: Some(0),
            ..Default::default()
        };
        assert!(
            zero_deadline
                .check()
                .unwrap_err()
                .contains("deadline_ms = 0")
        );
        let huge_memory = LimitOverrides {
            memory_bytes: Some(u64::MAX),
            ..Default::default()
        };
        assert!(huge_memory.check().unwrap_err().contains("memory_bytes"));
        assert!(Limits::default().view().check().is_ok());
    }
}

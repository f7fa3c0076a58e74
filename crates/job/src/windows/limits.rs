//! windows.resources to Job Object limits, as hcsshim maps them for job containers: a CPU
//! count becomes a hard cap of that share of the host's processors, the CPU maximum is
//! already a cap in 1/100 of a percent, CPU shares (0..10000) become a weight of 1..9; the
//! three are mutually exclusive. Memory is a job-wide commit limit, storage a rate.

use hostproc_winsys::CpuRate;
use serde::{Deserialize, Serialize};

use super::JobError;

/// The job's limits (the OCI spec's windows.resources), also the job's own record of what
/// it set: the limits read back from Windows are not trusted (and Wine stores none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_maximum: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_iops: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_bps: Option<u64>,
}

/// The weight Windows takes (1..=9) for CPU shares (1..=10000); 0 means none.
pub fn shares_to_weight(shares: u16) -> u32 {
    1 + 8 * u32::from(shares.min(10000)) / 10000
}

/// The hard cap (1/100 of a percent of every host processor) for `count` processors of
/// `host`; never 0, at most the whole host.
pub fn count_to_rate(count: u64, host: u32) -> u32 {
    let count = count.min(u64::from(host.max(1)));
    ((count * 10000) / u64::from(host.max(1))).max(1) as u32
}

impl Resources {
    /// The CPU rate control these resources ask for, with `host` processors.
    pub fn cpu_rate(&self, host: u32) -> Result<CpuRate, JobError> {
        let given = [self.cpu_count.is_some_and(|c| c > 0), self.cpu_shares.is_some_and(|s| s > 0), self.cpu_maximum.is_some_and(|m| m > 0)];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(JobError::CpuExclusive { count: self.cpu_count, shares: self.cpu_shares, maximum: self.cpu_maximum });
        }
        if let Some(m) = self.cpu_maximum.filter(|m| *m > 0) {
            if m > 10000 {
                return Err(JobError::OutOfRange {
                    limit: "windows.resources.cpu.maximum",
                    value: m.to_string(),
                    hint: "it is in 1/100 of a percent of the host's processors: 1 to 10000",
                });
            }
            return Ok(CpuRate::HardCap(u32::from(m)));
        }
        if let Some(c) = self.cpu_count.filter(|c| *c > 0) {
            return Ok(CpuRate::HardCap(count_to_rate(c, host)));
        }
        if let Some(s) = self.cpu_shares.filter(|s| *s > 0) {
            if s > 10000 {
                return Err(JobError::OutOfRange { limit: "windows.resources.cpu.shares", value: s.to_string(), hint: "give 1 to 10000" });
            }
            return Ok(CpuRate::Weight(shares_to_weight(s)));
        }
        Ok(CpuRate::Unlimited)
    }

    /// The storage rate, checked for Windows' signed fields.
    pub fn io_rate(&self) -> Result<Option<(i64, i64)>, JobError> {
        if self.storage_iops.unwrap_or(0) == 0 && self.storage_bps.unwrap_or(0) == 0 {
            return Ok(None);
        }
        let signed = |v: Option<u64>, limit| {
            i64::try_from(v.unwrap_or(0)).map_err(|_| JobError::OutOfRange { limit, value: v.unwrap_or(0).to_string(), hint: "at most 2^63-1" })
        };
        Ok(Some((signed(self.storage_iops, "windows.resources.storage.iops")?, signed(self.storage_bps, "windows.resources.storage.bps")?)))
    }
}

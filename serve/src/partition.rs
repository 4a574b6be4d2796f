//! Which partition an app belongs to, and which partitions a process
//! serves (SPEC §12).
//!
//! Every request names one app, so the log partitions by app. An app's
//! partition is the 64-bit FNV-1a hash of its id's UTF-8 bytes, modulo the
//! number of partitions. The function is fixed: the same on every node and
//! in every version, so a writer and its replicas never disagree about
//! where an app lives. Changing the number of partitions moves apps, and
//! needs a new stream.

use std::fmt;

/// The most partitions a cluster may have.
pub const MAX_PARTITIONS: u32 = 1024;

/// The partition of `app` among `count` (at least 1).
pub fn partition_of(app: &str, count: u32) -> u32 {
    (fnv1a(app.as_bytes()) % u64::from(count.max(1))) as u32
}

/// The 64-bit FNV-1a hash (offset basis 0xcbf29ce484222325, prime
/// 0x100000001b3).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The partitions one process serves, of how many there are, as the
/// command line gives them: `LIST/COUNT`, where the list is numbers and
/// ranges (`0,2-3/4`), or `all/COUNT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partitions {
    count: u32,
    served: Vec<u32>,
}

impl Partitions {
    /// One partition of one: a store that is not partitioned.
    pub fn single() -> Partitions {
        Partitions {
            count: 1,
            served: vec![0],
        }
    }

    /// How many partitions the cluster has.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The partitions served, ascending.
    pub fn served(&self) -> &[u32] {
        &self.served
    }

    /// The partition of `app`, and whether it is served here.
    pub fn locate(&self, app: &str) -> (u32, bool) {
        let partition = partition_of(app, self.count);
        (partition, self.served.binary_search(&partition).is_ok())
    }
}

impl std::str::FromStr for Partitions {
    type Err = String;

    fn from_str(text: &str) -> Result<Partitions, String> {
        let shape = "give the partitions as LIST/COUNT, for example 0,2-3/4 or all/4";
        let (list, count) = text
            .split_once('/')
            .ok_or_else(|| format!("--partitions {text:?}: {shape}"))?;
        let count: u32 = count
            .parse()
            .ok()
            .filter(|count| (1..=MAX_PARTITIONS).contains(count))
            .ok_or_else(|| {
                format!(
                    "--partitions {text:?}: the count {count:?} must be a whole number from 1 to {MAX_PARTITIONS}"
                )
            })?;
        let number = |piece: &str| -> Result<u32, String> {
            match piece.parse::<u32>() {
                Ok(n) if n < count => Ok(n),
                _ => Err(format!(
                    "--partitions {text:?}: {piece:?} is not a partition of {count} (they are 0 to {})",
                    count - 1
                )),
            }
        };
        let mut served = Vec::new();
        if list == "all" {
            served.extend(0..count);
        } else {
            for piece in list.split(',') {
                match piece.split_once('-') {
                    Some((low, high)) => {
                        let (low, high) = (number(low)?, number(high)?);
                        if low > high {
                            return Err(format!(
                                "--partitions {text:?}: the range {piece:?} runs backwards"
                            ));
                        }
                        served.extend(low..=high);
                    }
                    None => served.push(number(piece)?),
                }
            }
        }
        served.sort_unstable();
        if served.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(format!(
                "--partitions {text:?}: a partition is named more than once"
            ));
        }
        Ok(Partitions { count, served })
    }
}

impl fmt::Display for Partitions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<String> = self.served.iter().map(u32::to_string).collect();
        write!(f, "{}/{}", list.join(","), self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_has_its_published_values() {
        // The test vectors of the FNV reference (Fowler, Noll, Vo).
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn an_app_always_lands_in_the_same_partition() {
        // Pinned: a change here moves apps between partitions, which a
        // running cluster cannot take.
        let pinned = [
            ("app-tg3lbp0a", 4, 0),
            ("app-tg3lbp0a", 16, 8),
            ("app-00000000", 4, 3),
            ("app-zzzzzzzz", 7, 4),
        ];
        let seen: Vec<(&str, u32, u32)> = pinned
            .iter()
            .map(|&(app, count, _)| (app, count, partition_of(app, count)))
            .collect();
        assert_eq!(seen, pinned);
        for app in ["app-a", "app-b", "ä"] {
            assert_eq!(partition_of(app, 1), 0);
            assert!(partition_of(app, 9) < 9);
        }
    }

    #[test]
    fn apps_spread_over_the_partitions() {
        let mut counts = [0u32; 8];
        for n in 0..8000 {
            counts[partition_of(&format!("app-{n:08x}"), 8) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn partitions_read_lists_ranges_and_all() {
        let read = |text: &str| text.parse::<Partitions>().map(|p| p.served().to_vec());
        assert_eq!(read("0,2-3/4"), Ok(vec![0, 2, 3]));
        assert_eq!(read("all/3"), Ok(vec![0, 1, 2]));
        assert_eq!(read("3,1/4"), Ok(vec![1, 3]));
        let parsed: Partitions = "2,0/4".parse().unwrap();
        assert_eq!(parsed.to_string(), "0,2/4");
        assert_eq!(parsed.count(), 4);
        let (partition, served) = parsed.locate("app-tg3lbp0a");
        assert_eq!((partition, served), (0, true));
        assert_eq!(parsed.locate("app-00000000"), (3, false));
    }

    #[test]
    fn bad_partitions_say_what_is_wrong() {
        let fault = |text: &str| text.parse::<Partitions>().unwrap_err();
        assert_eq!(
            fault("0,1"),
            "--partitions \"0,1\": give the partitions as LIST/COUNT, for example 0,2-3/4 or all/4"
        );
        assert_eq!(
            fault("0/0"),
            "--partitions \"0/0\": the count \"0\" must be a whole number from 1 to 1024"
        );
        assert_eq!(
            fault("4/4"),
            "--partitions \"4/4\": \"4\" is not a partition of 4 (they are 0 to 3)"
        );
        assert_eq!(
            fault("x/4"),
            "--partitions \"x/4\": \"x\" is not a partition of 4 (they are 0 to 3)"
        );
        assert_eq!(
            fault("3-1/4"),
            "--partitions \"3-1/4\": the range \"3-1\" runs backwards"
        );
        assert_eq!(
            fault("1,0-2/4"),
            "--partitions \"1,0-2/4\": a partition is named more than once"
        );
    }
}

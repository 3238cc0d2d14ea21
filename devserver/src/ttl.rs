//! `framework.CalculateTTL` (openbao `sdk/framework/lease.go` @1335248a), shared by token create
//! and renew-self (contract §2.4/§2.5, §3): the effective max is the system max (768h) lowered to
//! `explicit_max_ttl`; a period wins over any TTL and is capped at that max; a non-periodic TTL is
//! the increment, else the token's TTL, else the mount default, and never runs past start + max.
//! Every cap adds the warning Vault sends.

use crate::clock::human_duration;
use crate::store::MAX_TTL;

/// All values in whole seconds; `start` and `now` are Unix seconds (Vault truncates both).
pub(crate) fn calculate_ttl(
    increment: u64,
    backend_ttl: u64,
    period: u64,
    explicit_max_ttl: u64,
    start: u64,
    now: u64,
) -> Result<(u64, Vec<String>), String> {
    let mut warnings = Vec::new();
    let max_ttl = if explicit_max_ttl > 0 && explicit_max_ttl < MAX_TTL {
        explicit_max_ttl
    } else {
        MAX_TTL
    };
    let (mut ttl, max_valid_time) = if period > 0 {
        let mut period = period;
        if period > max_ttl {
            warnings.push(format!(
                "period of {:?} exceeded the effective max_ttl of {:?}; period value is capped accordingly",
                human_duration(period),
                human_duration(max_ttl)
            ));
            period = max_ttl;
        }
        (
            period,
            (explicit_max_ttl > 0).then(|| start + explicit_max_ttl),
        )
    } else {
        let ttl = if increment > 0 {
            increment
        } else if backend_ttl > 0 {
            backend_ttl
        } else {
            MAX_TTL // the mount default lease TTL equals the max (contract §2.5)
        };
        (ttl, Some(start + max_ttl))
    };
    if let Some(max_valid_time) = max_valid_time {
        let max_valid_ttl = max_valid_time as i64 - now as i64;
        if max_valid_ttl <= 0 {
            // A plain Go error: the caller answers 500 (contract §2.4 [I]).
            return Err("past the max TTL, cannot renew".into());
        }
        let max_valid_ttl = max_valid_ttl as u64;
        if max_valid_ttl < ttl {
            warnings.push(format!(
                "TTL of {:?} exceeded the effective max_ttl of {:?}; TTL value is capped accordingly",
                human_duration(ttl),
                human_duration(max_valid_ttl)
            ));
            ttl = max_valid_ttl;
        }
    }
    Ok((ttl, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3600;

    #[test]
    fn period_wins_and_768h_is_just_not_capped() {
        assert_eq!(
            calculate_ttl(H, 60, 768 * H, 0, 0, 10),
            Ok((768 * H, vec![]))
        );
    }

    #[test]
    fn period_over_the_max_is_capped_with_a_human_warning() {
        let (ttl, w) = calculate_ttl(0, 0, 1000 * H, 0, 0, 0).unwrap();
        assert_eq!(ttl, MAX_TTL);
        assert_eq!(
            w,
            [
                "period of \"1000h\" exceeded the effective max_ttl of \"768h\"; period value is capped accordingly"
            ]
        );
    }

    #[test]
    fn explicit_max_ttl_caps_period_and_what_is_left() {
        let (ttl, w) = calculate_ttl(0, 0, 768 * H, 2 * H, 0, 0).unwrap();
        assert_eq!((ttl, w.len()), (2 * H, 1), "{w:?}");
        assert!(w[0].starts_with("period of \"768h\" exceeded the effective max_ttl of \"2h\""));
        let (ttl, w) = calculate_ttl(0, 0, H, 2 * H, 0, 5400).unwrap();
        assert_eq!(ttl, 1800);
        assert_eq!(
            w,
            [
                "TTL of \"1h\" exceeded the effective max_ttl of \"30m\"; TTL value is capped accordingly"
            ]
        );
        assert_eq!(
            calculate_ttl(0, 0, H, 2 * H, 0, 2 * H),
            Err("past the max TTL, cannot renew".into())
        );
    }

    #[test]
    fn non_periodic_uses_increment_then_ttl_then_default_capped_at_start_plus_max() {
        assert_eq!(calculate_ttl(60, 120, 0, 0, 0, 0).unwrap().0, 60);
        assert_eq!(calculate_ttl(0, 120, 0, 0, 0, 0).unwrap().0, 120);
        assert_eq!(calculate_ttl(0, 0, 0, 0, 0, 0).unwrap().0, MAX_TTL);
        let (ttl, w) = calculate_ttl(0, 0, 0, 0, 0, 768 * H - 60).unwrap();
        assert_eq!(ttl, 60);
        assert_eq!(
            w,
            [
                "TTL of \"768h\" exceeded the effective max_ttl of \"1m\"; TTL value is capped accordingly"
            ]
        );
    }
}

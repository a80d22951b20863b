//! The distribution of the two-sided one-sample Kolmogorov–Smirnov statistic
//! D_n, whose survival function scipy's `ks_2samp` uses as its asymptotic
//! p-value once a sample exceeds 10 000 values (`kstwo.sf(d, round(en))` with
//! en = n1·n2 / (n1 + n2)). Computed as scipy's `_kolmogn` does — Simard and
//! L'Ecuyer's choice between Ruben–Gambino's closed forms, the Durbin matrix
//! (Marsaglia–Tsang–Wang), Pomeranz's recursion, the Pelz–Good expansion and
//! twice the one-sided Smirnov tail — so both agree to the reported digits.

use std::f64::consts::PI;

const E128: i32 = 128;
const SCALE_UP: f64 = 340_282_366_920_938_463_463_374_607_431_768_211_456.0; // 2^128
const SCALE_DOWN: f64 = 1.0 / SCALE_UP;

/// Stirling coefficients B_{2j} / (2j) / (2j − 1), j = 8 … 1.
const STIRLING: [f64; 8] = [
    -3617.0 / 122_400.0,
    1.0 / 156.0,
    -691.0 / 360_360.0,
    1.0 / 1188.0,
    -1.0 / 1680.0,
    1.0 / 1260.0,
    -1.0 / 360.0,
    1.0 / 12.0,
];

/// log(n! / nⁿ), by Stirling's series with n·log(n) removed up front.
fn log_nfactorial_div_n_pow_n(n: f64) -> f64 {
    let rn = 1.0 / n;
    let poly = STIRLING.iter().fold(0.0, |acc, c| acc * (rn / n) + c);
    n.ln() / 2.0 - n + (2.0 * PI).ln() / 2.0 + rn * poly
}

fn ldexp(x: f64, exp: i32) -> f64 {
    // Split so that neither factor overflows on its own.
    let mut x = x;
    let mut exp = exp;
    while exp > 1000 {
        x *= 2f64.powi(1000);
        exp -= 1000;
    }
    while exp < -1000 {
        x *= 2f64.powi(-1000);
        exp += 1000;
    }
    x * 2f64.powi(exp)
}

/// Pr(D_n ≤ d) by the Durbin matrix: the k-th diagonal entry of Hⁿ, scaled
/// by n!/nⁿ, with intermediate rescaling so that nothing overflows.
fn durbin_cdf(n: u64, d: f64) -> f64 {
    if d >= 1.0 {
        return 1.0;
    }
    let nd = n as f64 * d;
    if nd <= 0.5 {
        return 0.0;
    }
    let k = nd.ceil() as usize;
    let h = k as f64 - nd;
    let m = 2 * k - 1;
    let mut v: Vec<f64> = (1..=m).map(|j| 1.0 - h.powi(j as i32)).collect();
    let mut w = vec![0.0; m];
    let mut fac = 1.0;
    for j in 1..=m {
        w[j - 1] = fac;
        fac /= j as f64;
        v[j - 1] *= fac;
    }
    let tt = (2.0 * h - 1.0).max(0.0).powi(m as i32) - 2.0 * h.powi(m as i32);
    v[m - 1] = (1.0 + tt) * fac;
    let mut hm = vec![0.0; m * m];
    for i in 1..m {
        for r in (i - 1)..m {
            hm[r * m + i] = w[r - (i - 1)];
        }
    }
    for r in 0..m {
        hm[r * m] = v[r];
    }
    for c in 0..m {
        hm[(m - 1) * m + c] = v[m - 1 - c];
    }
    let matmul = |a: &[f64], b: &[f64]| {
        let mut out = vec![0.0; m * m];
        for r in 0..m {
            for t in 0..m {
                let x = a[r * m + t];
                if x == 0.0 {
                    continue;
                }
                for c in 0..m {
                    out[r * m + c] += x * b[t * m + c];
                }
            }
        }
        out
    };
    let mut power: Vec<f64> = (0..m * m)
        .map(|i| if i / m == i % m { 1.0 } else { 0.0 })
        .collect();
    let (mut nn, mut expnt, mut h_expnt) = (n, 0i32, 0i32);
    while nn > 0 {
        if nn % 2 == 1 {
            power = matmul(&power, &hm);
            expnt += h_expnt;
        }
        hm = matmul(&hm, &hm);
        h_expnt *= 2;
        if hm[(k - 1) * m + (k - 1)].abs() > SCALE_UP {
            hm.iter_mut().for_each(|x| *x /= SCALE_UP);
            h_expnt += E128;
        }
        nn /= 2;
    }
    let mut p = power[(k - 1) * m + (k - 1)];
    for i in 1..=n {
        p = i as f64 * p / n as f64;
        if p.abs() < SCALE_DOWN {
            p *= SCALE_UP;
            expnt -= E128;
        }
    }
    if expnt != 0 {
        p = ldexp(p, expnt);
    }
    p.clamp(0.0, 1.0)
}

/// Interval of row i of Pomeranz's recursion that can be non-zero.
fn pomeranz_j1j2(i: i64, n: i64, ll: i64, ceilf: i64, roundf: i64) -> (i64, i64) {
    let (j1, j2) = if i == 0 {
        (-ll - ceilf - 1, ll + ceilf - 1)
    } else {
        let (half, odd) = ((i + 1) / 2, (i + 1) % 2);
        if odd == 0 {
            if half == n + 1 {
                (n - ll - ceilf - 1, n + ll + ceilf - 1)
            } else {
                (half - 1 - ll - roundf - 1, half + ll - 1 + ceilf - 1)
            }
        } else {
            (half - 1 - ll - 1, half + ll + roundf - 1)
        }
    };
    ((j1 + 2).max(0), j2.min(n))
}

/// Pr(D_n ≤ x) by Pomeranz's recursion (scipy uses it for n ≤ 140).
fn pomeranz_cdf(n: u64, x: f64) -> f64 {
    let n_i = n as i64;
    let nf = n as f64;
    let t = nf * x;
    let ll = t.floor() as i64;
    let f = t - ll as f64;
    let g = f.min(1.0 - f);
    let ceilf = i64::from(f > 0.0);
    let roundf = i64::from(f > 0.5);
    let npwrs = (2 * (ll + 1)) as usize;
    let mut gpower = vec![1.0; npwrs];
    let mut twogpower = vec![1.0; npwrs];
    let mut onem2gpower = vec![1.0; npwrs];
    for m in 1..npwrs {
        gpower[m] = gpower[m - 1] * (g / nf) / m as f64;
        twogpower[m] = twogpower[m - 1] * (2.0 * g / nf) / m as f64;
        onem2gpower[m] = onem2gpower[m - 1] * ((1.0 - 2.0 * g) / nf) / m as f64;
    }
    let mut v0 = vec![0.0; npwrs];
    let mut v1 = vec![0.0; npwrs];
    v1[0] = 1.0;
    let (mut v0s, mut v1s) = (0i64, 0i64);
    let mut expnt = 0i32;
    let (mut j1, _) = pomeranz_j1j2(0, n_i, ll, ceilf, roundf);
    for i in 1..(2 * n_i + 2) {
        let k1 = j1;
        std::mem::swap(&mut v0, &mut v1);
        std::mem::swap(&mut v0s, &mut v1s);
        v1.iter_mut().for_each(|x| *x = 0.0);
        let (nj1, j2) = pomeranz_j1j2(i, n_i, ll, ceilf, roundf);
        j1 = nj1;
        let pwrs = if i == 1 || i == 2 * n_i + 1 {
            &gpower
        } else if i % 2 == 1 {
            &twogpower
        } else {
            &onem2gpower
        };
        let ln2 = j2 - k1 + 1;
        if ln2 > 0 {
            let ln2 = ln2 as usize;
            let start = (k1 - v0s) as usize;
            let a = &v0[start..(start + ln2).min(v0.len())];
            let b = &pwrs[..ln2.min(pwrs.len())];
            // Full convolution of a and b, as numpy's `convolve`.
            let mut conv = vec![0.0; a.len() + b.len() - 1];
            for (ia, &xa) in a.iter().enumerate() {
                for (ib, &xb) in b.iter().enumerate() {
                    conv[ia + ib] += xa * xb;
                }
            }
            let conv_start = (j1 - k1) as usize;
            let conv_len = (j2 - j1 + 1).max(0) as usize;
            for (idx, slot) in v1.iter_mut().take(conv_len).enumerate() {
                *slot = conv.get(conv_start + idx).copied().unwrap_or(0.0);
            }
            let max = v1.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if 0.0 < max && max < SCALE_DOWN {
                v1.iter_mut().for_each(|x| *x *= SCALE_UP);
                expnt -= E128;
            }
            v1s = v0s + j1 - k1;
        }
    }
    let mut ans = v1[(n_i - v1s) as usize];
    for m in 1..=n {
        if ans.abs() > SCALE_UP {
            ans *= SCALE_DOWN;
            expnt += E128;
        }
        ans *= m as f64;
    }
    if expnt != 0 {
        ans = ldexp(ans, expnt);
    }
    ans.clamp(0.0, 1.0)
}

/// Pelz–Good's asymptotic expansion of Pr(D_n ≤ x), four terms.
fn pelz_good_cdf(n: u64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let nf = n as f64;
    let z = nf.sqrt() * x;
    let (z2, z3, z4, z6) = (z * z, z.powi(3), z.powi(4), z.powi(6));
    let qlog = -PI * PI / 8.0 / z2;
    if qlog < -708.0 {
        return 0.0;
    }
    let q = qlog.exp();
    let (pi2, pi4, pi6) = (PI * PI, PI.powi(4), PI.powi(6));
    let k1a = -z2;
    let k1b = pi2 / 4.0;
    let k2a = 6.0 * z6 + 2.0 * z4;
    let k2b = (2.0 * z4 - 5.0 * z2) * pi2 / 4.0;
    let k2c = pi4 * (1.0 - 2.0 * z2) / 16.0;
    let k3d = pi6 * (5.0 - 30.0 * z2) / 64.0;
    let k3c = pi4 * (-60.0 * z2 + 212.0 * z4) / 16.0;
    let k3b = pi2 * (135.0 * z4 - 96.0 * z6) / 4.0;
    let k3a = -30.0 * z6 - 90.0 * z.powi(8);
    let mut k = [0.0f64; 4];
    let maxk = (16.0 * z / PI).ceil() as i64;
    for kk in (1..=maxk).rev() {
        let m = (2 * kk - 1) as f64;
        let (m2, m4, m6) = (m * m, m.powi(4), m.powi(6));
        let qpower = q.powf(8.0 * kk as f64);
        let coeffs = [
            1.0,
            k1a + k1b * m2,
            k2a + k2b * m2 + k2c * m4,
            k3a + k3b * m2 + k3c * m4 + k3d * m6,
        ];
        for (acc, c) in k.iter_mut().zip(coeffs) {
            *acc = *acc * qpower + c;
        }
    }
    let sqrt2pi = (2.0 * PI).sqrt();
    let divisors = [z, 6.0 * z4, 72.0 * z.powi(7), 6480.0 * z.powi(10)];
    for (acc, d) in k.iter_mut().zip(divisors) {
        *acc = *acc * q * sqrt2pi / d;
    }
    let q = (-pi2 / 2.0 / z2).exp();
    let sqrt3z = 3f64.sqrt() * z;
    let (mut k2extra, mut k3extra) = (0.0, 0.0);
    for kk in (1..=maxk).rev() {
        let ks = kk as f64;
        let qp = q.powf(ks * ks);
        k2extra += ks * ks * qp;
        let kspi = PI * ks;
        k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ks * ks * qp;
    }
    k[2] += k2extra * pi2 * sqrt2pi / (-36.0 * z3);
    k[3] += k3extra * pi2 * sqrt2pi / (216.0 * z6);
    k.iter()
        .enumerate()
        .map(|(i, v)| v / nf.powf(i as f64 / 2.0))
        .sum()
}

/// Pr(D⁺_n ≥ x), the one-sided Smirnov tail, by the Smirnov / Birnbaum–Tingey
/// sum (all terms positive), in logs so that large n neither overflows nor
/// underflows.
pub fn smirnov(n: u64, x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x <= 0.0 {
        return 1.0;
    }
    if x >= 1.0 {
        return 0.0;
    }
    let nf = n as f64;
    let last = (nf * (1.0 - x)).floor() as u64;
    let lg_n1 = libm::lgamma(nf + 1.0);
    let mut p = 0.0;
    for v in 0..=last {
        let vf = v as f64;
        let evn = x + vf / nf;
        let omevn = 1.0 - evn;
        let log_term = if omevn <= 0.0 {
            if n == v {
                lg_n1 - libm::lgamma(vf + 1.0) + (vf - 1.0) * evn.ln()
            } else {
                continue;
            }
        } else {
            lg_n1 - libm::lgamma(vf + 1.0) - libm::lgamma(nf - vf + 1.0)
                + (vf - 1.0) * evn.ln()
                + (nf - vf) * omevn.ln()
        };
        p += log_term.exp();
    }
    (p * x).clamp(0.0, 1.0)
}

/// Pr(D_n > x): `scipy.stats.kstwo.sf(x, n)`.
pub fn kstwo_sf(n: u64, x: f64) -> f64 {
    if n == 0 || x.is_nan() {
        return f64::NAN;
    }
    if x >= 1.0 {
        return 0.0;
    }
    if x <= 0.0 {
        return 1.0;
    }
    let nf = n as f64;
    let t = nf * x;
    if t <= 1.0 {
        if t <= 0.5 {
            return 1.0;
        }
        let cdf = if n <= 140 {
            (1..=n).fold(1.0, |acc, i| {
                acc * (i as f64 * (1.0 / nf) * (2.0 * t - 1.0))
            })
        } else {
            (log_nfactorial_div_n_pow_n(nf) + nf * (2.0 * t - 1.0).ln()).exp()
        };
        return (1.0 - cdf).clamp(0.0, 1.0);
    }
    if t >= nf - 1.0 {
        return (2.0 * (1.0 - x).powf(nf)).clamp(0.0, 1.0);
    }
    if x >= 0.5 {
        return (2.0 * smirnov(n, x)).clamp(0.0, 1.0);
    }
    let nx2 = t * x;
    if n <= 140 {
        let cdf = if nx2 <= 0.754693 {
            durbin_cdf(n, x)
        } else if nx2 <= 4.0 {
            pomeranz_cdf(n, x)
        } else {
            return (2.0 * smirnov(n, x)).clamp(0.0, 1.0);
        };
        return (1.0 - cdf).clamp(0.0, 1.0);
    }
    if nx2 >= 370.0 {
        return 0.0;
    }
    if nx2 >= 2.2 {
        return (2.0 * smirnov(n, x)).clamp(0.0, 1.0);
    }
    let cdf = if nx2 >= 18.0 {
        1.0
    } else if n <= 100_000 && nf * x.powf(1.5) <= 1.4 {
        durbin_cdf(n, x)
    } else {
        pelz_good_cdf(n, x)
    };
    (1.0 - cdf).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_forms_at_the_edges() {
        assert_eq!(kstwo_sf(10, 0.0), 1.0);
        assert_eq!(kstwo_sf(10, 1.0), 0.0);
        assert_eq!(kstwo_sf(10, 0.04), 1.0, "n·x ≤ 1/2");
        // Ruben–Gambino upper tail: 2 (1 − x)ⁿ.
        assert!((kstwo_sf(10, 0.95) - 2.0 * 0.05f64.powi(10)).abs() < 1e-25);
    }

    #[test]
    fn one_observation_is_uniform() {
        // D_1 = max(U, 1 − U): Pr(D_1 > x) = 2 (1 − x) for x ≥ 1/2.
        for x in [0.55, 0.7, 0.9] {
            assert!((kstwo_sf(1, x) - 2.0 * (1.0 - x)).abs() < 1e-12);
        }
    }

    #[test]
    fn every_method_gives_a_probability_that_falls_with_x() {
        for n in [3u64, 50, 140, 141, 500, 5_000, 200_000] {
            let mut last = 1.0;
            for i in 1..200 {
                let x = i as f64 / 200.0;
                let p = kstwo_sf(n, x);
                assert!((0.0..=1.0).contains(&p), "n={n} x={x}: {p}");
                assert!(p <= last + 1e-9, "n={n} x={x}: {p} after {last}");
                last = p;
            }
        }
    }

    #[test]
    fn the_limit_is_kolmogorovs_distribution() {
        // For large n, √n·D_n → Kolmogorov: Pr(K > 1.36) ≈ 0.0494.
        let n = 1_000_000u64;
        let p = kstwo_sf(n, 1.36 / (n as f64).sqrt());
        let limit: f64 = 2.0
            * (1..100)
                .map(|k| {
                    let k = k as f64;
                    (-1f64).powf(k - 1.0) * (-2.0 * k * k * 1.36 * 1.36).exp()
                })
                .sum::<f64>();
        assert!((p - limit).abs() < 2e-3, "{p} vs {limit}");
    }
}

//! Password hashing: argon2id for everything we hash, and verification of the hashes that
//! identities imported from other systems bring with them (Kratos's import formats).
//!
//! New hashes are PHC strings, `$argon2id$v=19$m=..,t=..,p=..$salt$hash`, with a random 16-byte
//! salt and a 32-byte key. [`verify_password`] also accepts argon2i, bcrypt (`$2a$`, `$2b$`,
//! `$2y$`), PBKDF2 as `$pbkdf2-sha1|sha256|sha384|sha512$i=<iterations>,l=<keylen>$salt$hash` and
//! scrypt as `$scrypt$ln=<N>,r=<r>,p=<p>$salt$hash`, and says in [`Verification::needs_rehash`]
//! when the caller should store a fresh argon2id hash after a successful login.
//!
//! Why it is shaped so:
//! - A stored hash is attacker-controlled input once imports exist: its parameters decide how much
//!   CPU and memory one login attempt costs. Every parameter is therefore bounded *before* any work
//!   is done (argon2 m <= 1 GiB and t <= 20, PBKDF2 <= 10,000,000 iterations, scrypt N <= 2^20
//!   and <= 1 GiB, bcrypt cost <= 16), and passwords longer than [`MAX_PASSWORD_LEN`] are refused.
//! - Kratos writes scrypt's `ln` as the cost N itself (`ln=16384`), while PHC and passlib write
//!   log2(N) (`ln=14`). Values of 64 and above can only be N; values below 64 are read as log2(N),
//!   and when such a value is also a power of two (2, 4, 8, 16, 32) it is tried as N first — that
//!   reading costs next to nothing, so accepting both never doubles the real work.
//! - Base64 in these formats is the standard alphabet, with or without padding (Kratos writes
//!   argon2 and PBKDF2 unpadded and scrypt padded; other exporters differ), so both are accepted.
//! - Derived keys are compared in constant time ([`crate::ct_eq`]; bcrypt compares with `subtle`
//!   inside the `bcrypt` crate) and zeroed when dropped.
//! - [`dummy_verify`] runs the same argon2id work for an unknown user, so that "no such user" and
//!   "wrong password" take the same time (no account enumeration by timing).

use std::num::NonZeroU32;

use argon2::{Algorithm as Argon2Algorithm, Argon2, Version as Argon2Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use zeroize::Zeroizing;

/// Longest password accepted, in bytes (hashing a longer one is only a way to burn our CPU).
pub const MAX_PASSWORD_LEN: usize = 4096;

const SALT_LEN: usize = 16;
const KEY_LEN: usize = 32;

// Bounds on the parameters of stored (possibly imported) hashes.
const MAX_ARGON2_M_KIB: u32 = 1024 * 1024;
const MAX_ARGON2_T: u32 = 20;
const MAX_ARGON2_P: u32 = 16;
const MAX_PBKDF2_WORK: u64 = 10_000_000;
const MAX_SCRYPT_LOG_N: u32 = 20;
const MAX_SCRYPT_R: u32 = 32;
const MAX_SCRYPT_P: u32 = 16;
const MAX_SCRYPT_MEMORY: u64 = 1 << 30;
const MAX_SCRYPT_WORK: u64 = 1 << 32;
const MAX_BCRYPT_COST: u32 = 16;
const MIN_STORED_KEY_LEN: usize = 4;
const MAX_STORED_KEY_LEN: usize = 128;
const MAX_STORED_SALT_LEN: usize = 1024;
const MAX_STORED_LEN: usize = 4096;

/// Base64 with the standard alphabet; padding optional.
const B64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Fixed salt and key for [`dummy_verify`]; nothing ever matches them on purpose.
const DUMMY_SALT: [u8; SALT_LEN] = *b"gatehouse-dummy!";
const DUMMY_KEY: [u8; KEY_LEN] = [0x5a; KEY_LEN];

/// Why a password could not be hashed or checked. A wrong password is not an error: it is
/// `Verification { matched: false, .. }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("password is longer than {MAX_PASSWORD_LEN} bytes")]
    TooLong,
    #[error("malformed password hash")]
    Malformed,
    #[error("unsupported password hash: {0}")]
    Unsupported(&'static str),
    #[error("invalid argon2 parameters")]
    InvalidParams,
}

/// Argon2id cost parameters for new hashes (Kratos: `hashers.argon2.memory`, `iterations`,
/// `parallelism`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    pub m_cost_kib: u32,
    pub t_cost: u32,
    pub p_cost: u32,
}

impl Default for Argon2Params {
    /// The OWASP minimum for argon2id: 19 MiB, 2 iterations, 1 lane.
    fn default() -> Self {
        Argon2Params {
            m_cost_kib: 19_456,
            t_cost: 2,
            p_cost: 1,
        }
    }
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    pub matched: bool,
    /// The stored hash is not argon2id with at least the configured parameters: after a match,
    /// store `hash_password(password, params)` in its place.
    pub needs_rehash: bool,
}

/// Hashes `password` with argon2id under `params` and a fresh random salt, as a PHC string.
pub fn hash_password(password: &str, params: &Argon2Params) -> Result<String, PasswordError> {
    if password.len() > MAX_PASSWORD_LEN {
        return Err(PasswordError::TooLong);
    }
    if params.m_cost_kib > MAX_ARGON2_M_KIB
        || params.t_cost > MAX_ARGON2_T
        || params.p_cost > MAX_ARGON2_P
    {
        return Err(PasswordError::InvalidParams);
    }
    let salt = crate::random::bytes::<SALT_LEN>();
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    argon2_derive(
        Argon2Algorithm::Argon2id,
        Argon2Version::V0x13,
        params.m_cost_kib,
        params.t_cost,
        params.p_cost,
        password.as_bytes(),
        &salt,
        key.as_mut(),
    )
    .map_err(|_| PasswordError::InvalidParams)?;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost_kib,
        params.t_cost,
        params.p_cost,
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(key.as_ref()),
    ))
}

/// Checks `password` against a stored hash in any supported format (see the module doc).
/// `params` are the current argon2id parameters, against which `needs_rehash` is judged.
pub fn verify_password(
    password: &str,
    stored: &str,
    params: &Argon2Params,
) -> Result<Verification, PasswordError> {
    if password.len() > MAX_PASSWORD_LEN {
        return Err(PasswordError::TooLong);
    }
    let password = password.as_bytes();
    match parse(stored)? {
        Stored::Argon2(h) => {
            let mut key = Zeroizing::new(vec![0u8; h.key.len()]);
            argon2_derive(
                h.algorithm,
                h.version,
                h.m,
                h.t,
                h.p,
                password,
                &h.salt,
                &mut key,
            )?;
            let needs_rehash = h.algorithm != Argon2Algorithm::Argon2id
                || h.version != Argon2Version::V0x13
                || h.m < params.m_cost_kib
                || h.t < params.t_cost
                || h.p < params.p_cost;
            Ok(Verification {
                matched: crate::ct_eq(&key, &h.key),
                needs_rehash,
            })
        }
        Stored::Bcrypt(hash) => {
            // bcrypt only reads the first 72 bytes; Kratos refuses longer passwords rather than
            // letting two different passwords match the same hash, and so do we.
            let matched = password.len() <= 72
                && bcrypt::verify(password, hash).map_err(|_| PasswordError::Malformed)?;
            Ok(Verification {
                matched,
                needs_rehash: true,
            })
        }
        Stored::Pbkdf2(h) => {
            let mut key = Zeroizing::new(vec![0u8; h.key.len()]);
            aws_lc_rs::pbkdf2::derive(h.algorithm, h.iterations, &h.salt, password, &mut key);
            Ok(Verification {
                matched: crate::ct_eq(&key, &h.key),
                needs_rehash: true,
            })
        }
        Stored::Scrypt(h) => {
            let mut matched = false;
            let mut key = Zeroizing::new(vec![0u8; h.key.len()]);
            for log_n in h.log_n_candidates.iter().flatten() {
                let p = scrypt::Params::new(*log_n, h.r, h.p, 32)
                    .map_err(|_| PasswordError::Malformed)?;
                scrypt::scrypt(password, &h.salt, &p, &mut key)
                    .map_err(|_| PasswordError::Malformed)?;
                matched |= crate::ct_eq(&key, &h.key);
            }
            Ok(Verification {
                matched,
                needs_rehash: true,
            })
        }
    }
}

/// Does the work of one argon2id verification under `params` against a fixed hash, and throws
/// the result away: call it when the user does not exist, so that the answer takes as long as
/// for a wrong password.
pub fn dummy_verify(password: &str, params: &Argon2Params) {
    let password = password.as_bytes();
    let password = &password[..password.len().min(MAX_PASSWORD_LEN)];
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    let derived = argon2_derive(
        Argon2Algorithm::Argon2id,
        Argon2Version::V0x13,
        params.m_cost_kib.min(MAX_ARGON2_M_KIB),
        params.t_cost.min(MAX_ARGON2_T),
        params.p_cost.min(MAX_ARGON2_P),
        password,
        &DUMMY_SALT,
        key.as_mut(),
    );
    std::hint::black_box(derived.is_ok() && crate::ct_eq(key.as_ref(), &DUMMY_KEY));
}

#[expect(clippy::too_many_arguments, reason = "argon2's own parameter list")]
fn argon2_derive(
    algorithm: Argon2Algorithm,
    version: Argon2Version,
    m: u32,
    t: u32,
    p: u32,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), PasswordError> {
    let params =
        argon2::Params::new(m, t, p, Some(out.len())).map_err(|_| PasswordError::Malformed)?;
    let blocks = params.block_count();
    let argon = Argon2::new(algorithm, version, params);
    if blocks > SCRATCH_MAX_BLOCKS {
        // An unusually expensive (imported) hash: memory only for this call.
        return argon
            .hash_password_into(password, salt, out)
            .map_err(|_| PasswordError::Malformed);
    }
    // The working memory is kept per thread and reused: allocating and freeing 19 MiB per hash
    // makes the allocator keep every freed buffer (RSS grew to ~1 GiB under a login flood).
    SCRATCH.with(|cell| {
        let mut scratch = cell.borrow_mut();
        if scratch.len() < blocks {
            scratch.resize(blocks, argon2::Block::default());
        }
        argon
            .hash_password_into_with_memory(password, salt, out, &mut scratch[..blocks])
            .map_err(|_| PasswordError::Malformed)
    })
}

/// Largest per-thread argon2 working memory kept between hashes (64 MiB of 1 KiB blocks).
const SCRATCH_MAX_BLOCKS: usize = 64 * 1024;

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A stored hash, parsed and checked against the work bounds.
enum Stored<'a> {
    Argon2(Argon2Hash),
    Bcrypt(&'a str),
    Pbkdf2(Pbkdf2Hash),
    Scrypt(ScryptHash),
}

struct Argon2Hash {
    algorithm: Argon2Algorithm,
    version: Argon2Version,
    m: u32,
    t: u32,
    p: u32,
    salt: Vec<u8>,
    key: Vec<u8>,
}

struct Pbkdf2Hash {
    algorithm: aws_lc_rs::pbkdf2::Algorithm,
    iterations: NonZeroU32,
    salt: Vec<u8>,
    key: Vec<u8>,
}

struct ScryptHash {
    /// At most two readings of `ln` (see the module doc), cheapest first.
    log_n_candidates: [Option<u8>; 2],
    r: u32,
    p: u32,
    salt: Vec<u8>,
    key: Vec<u8>,
}

fn parse(stored: &str) -> Result<Stored<'_>, PasswordError> {
    if stored.len() > MAX_STORED_LEN {
        return Err(PasswordError::Malformed);
    }
    let parts: Vec<&str> = stored.split('$').collect();
    if parts.len() < 4 || !parts[0].is_empty() {
        return Err(PasswordError::Unsupported("unknown hash format"));
    }
    match parts[1] {
        "argon2id" => parse_argon2(Argon2Algorithm::Argon2id, &parts[2..]).map(Stored::Argon2),
        "argon2i" => parse_argon2(Argon2Algorithm::Argon2i, &parts[2..]).map(Stored::Argon2),
        "2a" | "2b" | "2y" => parse_bcrypt(stored).map(Stored::Bcrypt),
        "pbkdf2-sha1" => parse_pbkdf2(aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA1, 20, &parts[2..]),
        "pbkdf2-sha256" => parse_pbkdf2(aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256, 32, &parts[2..]),
        "pbkdf2-sha384" => parse_pbkdf2(aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA384, 48, &parts[2..]),
        "pbkdf2-sha512" => parse_pbkdf2(aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA512, 64, &parts[2..]),
        "scrypt" => parse_scrypt(&parts[2..]).map(Stored::Scrypt),
        _ => Err(PasswordError::Unsupported("unknown hash algorithm")),
    }
}

/// `[v=19$]m=..,t=..,p=..$salt$key` (no `v=` means version 0x10, as in the PHC format).
fn parse_argon2(algorithm: Argon2Algorithm, parts: &[&str]) -> Result<Argon2Hash, PasswordError> {
    let (version, rest) = match parts {
        [v, rest @ ..] if v.starts_with("v=") => {
            let version = match *v {
                "v=19" => Argon2Version::V0x13,
                "v=16" => Argon2Version::V0x10,
                _ => return Err(PasswordError::Unsupported("unknown argon2 version")),
            };
            (version, rest)
        }
        rest => (Argon2Version::V0x10, rest),
    };
    let [params, salt, key] = rest else {
        return Err(PasswordError::Malformed);
    };
    let [m, t, p] = parse_numbers(params, ["m", "t", "p"])?;
    let (m, t, p) = (to_u32(m)?, to_u32(t)?, to_u32(p)?);
    if m > MAX_ARGON2_M_KIB || t > MAX_ARGON2_T || p > MAX_ARGON2_P {
        return Err(PasswordError::Unsupported(
            "argon2 parameters above the work bound",
        ));
    }
    Ok(Argon2Hash {
        algorithm,
        version,
        m,
        t,
        p,
        salt: decode_salt(salt)?,
        key: decode_key(key)?,
    })
}

/// `$2b$<cost>$<22 salt chars><31 hash chars>`; the `bcrypt` crate parses it, we only bound the
/// cost first.
fn parse_bcrypt(stored: &str) -> Result<&str, PasswordError> {
    let bytes = stored.as_bytes();
    if bytes.len() != 60 || !stored.is_ascii() || bytes[3] != b'$' || bytes[6] != b'$' {
        return Err(PasswordError::Malformed);
    }
    let (d1, d2) = (bytes[4], bytes[5]);
    if !d1.is_ascii_digit() || !d2.is_ascii_digit() {
        return Err(PasswordError::Malformed);
    }
    let cost = u32::from(d1 - b'0') * 10 + u32::from(d2 - b'0');
    if cost < 4 {
        return Err(PasswordError::Malformed);
    }
    if cost > MAX_BCRYPT_COST {
        return Err(PasswordError::Unsupported(
            "bcrypt cost above the work bound",
        ));
    }
    Ok(stored)
}

/// `i=<iterations>[,l=<keylen>]$salt$key`. Like Kratos, the key length is taken from the key
/// itself; `l` only has to be a number.
fn parse_pbkdf2(
    algorithm: aws_lc_rs::pbkdf2::Algorithm,
    digest_len: u64,
    parts: &[&str],
) -> Result<Stored<'static>, PasswordError> {
    let [params, salt, key] = parts else {
        return Err(PasswordError::Malformed);
    };
    let iterations = match parse_numbers(params, ["i", "l"]) {
        Ok([i, _]) => i,
        Err(_) => parse_numbers(params, ["i"])?[0],
    };
    let salt = decode_salt(salt)?;
    let key = decode_key(key)?;
    let blocks = (key.len() as u64).div_ceil(digest_len);
    if iterations.saturating_mul(blocks) > MAX_PBKDF2_WORK {
        return Err(PasswordError::Unsupported(
            "pbkdf2 iterations above the work bound",
        ));
    }
    let iterations = NonZeroU32::new(to_u32(iterations)?).ok_or(PasswordError::Malformed)?;
    Ok(Stored::Pbkdf2(Pbkdf2Hash {
        algorithm,
        iterations,
        salt,
        key,
    }))
}

/// `ln=<N or log2 N>,r=<r>,p=<p>$salt$key`.
fn parse_scrypt(parts: &[&str]) -> Result<ScryptHash, PasswordError> {
    let [params, salt, key] = parts else {
        return Err(PasswordError::Malformed);
    };
    let [ln, r, p] = parse_numbers(params, ["ln", "r", "p"])?;
    let (r, p) = (to_u32(r)?, to_u32(p)?);
    if r == 0 || p == 0 {
        return Err(PasswordError::Malformed);
    }
    // Kratos's reading (ln is N) first: for values below 64 it is the cheap one.
    let as_n = (ln >= 2 && ln.is_power_of_two()).then(|| ln.trailing_zeros());
    let as_log = (1..64).contains(&ln).then_some(ln as u32);
    if as_n.is_none() && as_log.is_none() {
        return Err(PasswordError::Malformed);
    }
    let within_bounds = |log_n: u32| {
        let n = 1u64 << log_n;
        log_n <= MAX_SCRYPT_LOG_N
            && r <= MAX_SCRYPT_R
            && p <= MAX_SCRYPT_P
            && 128 * n * u64::from(r) <= MAX_SCRYPT_MEMORY
            && 128 * n * u64::from(r) * u64::from(p) <= MAX_SCRYPT_WORK
    };
    let mut log_n_candidates = [None, None];
    for (slot, log_n) in log_n_candidates.iter_mut().zip([as_n, as_log]) {
        *slot = log_n
            .filter(|&l| within_bounds(l))
            .and_then(|l| u8::try_from(l).ok());
    }
    if log_n_candidates[0] == log_n_candidates[1] {
        log_n_candidates[1] = None;
    }
    if log_n_candidates.iter().all(Option::is_none) {
        return Err(PasswordError::Unsupported(
            "scrypt parameters above the work bound",
        ));
    }
    Ok(ScryptHash {
        log_n_candidates,
        r,
        p,
        salt: decode_salt(salt)?,
        key: decode_key(key)?,
    })
}

/// Parses `k1=<digits>,k2=<digits>,...` with exactly these keys in this order.
fn parse_numbers<const N: usize>(s: &str, keys: [&str; N]) -> Result<[u64; N], PasswordError> {
    let mut out = [0u64; N];
    let mut fields = s.split(',');
    for (slot, key) in out.iter_mut().zip(keys) {
        let field = fields.next().ok_or(PasswordError::Malformed)?;
        let value = field
            .strip_prefix(key)
            .and_then(|rest| rest.strip_prefix('='))
            .ok_or(PasswordError::Malformed)?;
        if value.is_empty() || value.len() > 12 || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PasswordError::Malformed);
        }
        *slot = value.parse().map_err(|_| PasswordError::Malformed)?;
    }
    if fields.next().is_some() {
        return Err(PasswordError::Malformed);
    }
    Ok(out)
}

fn to_u32(n: u64) -> Result<u32, PasswordError> {
    u32::try_from(n).map_err(|_| PasswordError::Unsupported("parameter out of range"))
}

fn decode_salt(s: &str) -> Result<Vec<u8>, PasswordError> {
    let salt = B64_LENIENT
        .decode(s)
        .map_err(|_| PasswordError::Malformed)?;
    if salt.is_empty() || salt.len() > MAX_STORED_SALT_LEN {
        return Err(PasswordError::Malformed);
    }
    Ok(salt)
}

fn decode_key(s: &str) -> Result<Vec<u8>, PasswordError> {
    let key = B64_LENIENT
        .decode(s)
        .map_err(|_| PasswordError::Malformed)?;
    if !(MIN_STORED_KEY_LEN..=MAX_STORED_KEY_LEN).contains(&key.len()) {
        return Err(PasswordError::Malformed);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: &str = "correct horse battery staple";

    /// Cheap parameters so that the tests run quickly in debug builds.
    const CHEAP: Argon2Params = Argon2Params {
        m_cost_kib: 256,
        t_cost: 2,
        p_cost: 1,
    };

    // Vectors made by other implementations (Python 3.11), all for PASSWORD:
    //   bcrypt 5.0.0:        bcrypt.hashpw(pw, bcrypt.gensalt(rounds=4))  and
    //                        bcrypt.gensalt(rounds=5, prefix=b"2a"); the $2y$ vector is the $2b$
    //                        one with its prefix changed (PHP's $2y$ is the same algorithm).
    //   argon2-cffi 25.1.0:  argon2.low_level.hash_secret(pw, os.urandom(16), time_cost, memory_cost,
    //                        parallelism, hash_len=32, type=Type.ID / Type.I).
    //   hashlib:             hashlib.pbkdf2_hmac(alg, pw, salt, iterations, dklen) and
    //                        hashlib.scrypt(pw, salt=salt, n, r, p, dklen=32), written in Kratos's
    //                        formats with base64.b64encode (padding stripped where noted).
    const BCRYPT_2B: &str = "$2b$04$jZFHrM4vaeiKis2PFLs.euqH8yulNovcdp3uGdHMGx94O8nMCFn8u";
    const BCRYPT_2A: &str = "$2a$05$5pCoN5GRsipjAH6PHGJj9e/RLOvxYsECDFmMZDxqfVZimv3TKmVt2";
    const BCRYPT_2Y: &str = "$2y$04$jZFHrM4vaeiKis2PFLs.euqH8yulNovcdp3uGdHMGx94O8nMCFn8u";
    const ARGON2ID: &str = "$argon2id$v=19$m=256,t=2,p=1$KMJKevXqS9bv/MOWagQy8g$hIIrBPVjgW5N5Lu1QlOqBORuXdwq20jsF6MRn9YHfhM";
    const ARGON2I: &str = "$argon2i$v=19$m=512,t=3,p=2$RUlmswP3kPCFaGGX5yO7uw$vy/V3yUJDy1Jnj8F6/whgk5fK6cXl5Camx3uqqy6BWI";
    const ARGON2ID_OWASP: &str = "$argon2id$v=19$m=19456,t=2,p=1$Evk8hjHd7C7XZ4yDRg30WA$sSabhnhHP0532IZlS2xtKP92hfwu95eYle7Wpzrrb7c";
    // Unpadded base64, as Kratos writes PBKDF2.
    const PBKDF2_SHA256: &str = "$pbkdf2-sha256$i=10000,l=32$7Ay+wlmNrfuE5bGX0E+5LA$CC4uM7fQun9/E0LUWUf/5fq1A6LM1YIwpOYegWvIpUg";
    const PBKDF2_SHA512: &str = "$pbkdf2-sha512$i=5000,l=64$97jGs5N94Mi/HzjrTPi92Q$BHjCK/KjSMUNIrAnzvAFmLa6313LfToODdnER+L2QRNGbTn4/GQFn2x/fyIEqtiEksej5VnyNaNpJYVMUocO2g";
    const PBKDF2_SHA1: &str =
        "$pbkdf2-sha1$i=4096,l=20$s7GMlYWYnDaNSQrLb5GKfQ$nvOkE4/vBqyB7oq7lii+PYfdwb4";
    // Padded base64.
    const PBKDF2_PADDED: &str = "$pbkdf2-sha256$i=1000,l=32$l/Zgx57/USKIk1ESiMaQuQ==$jFtWgYolnwhJzuOcm2rV6IoLSuEWDProkwLwzjz9txw=";
    // Kratos's scrypt: ln is N itself (1024), padded base64.
    const SCRYPT_KRATOS: &str = "$scrypt$ln=1024,r=8,p=1$DocfkQMTUxNr+ZSAIHY4oGVXudaZzQu3MVGkrZb3P5A=$+IQM1V/foIlP10KiLVBQ6pLUc9no3YkbnWTRFmL8H4U=";
    // ln as log2(N) (N = 2^11), unpadded.
    const SCRYPT_LOG2: &str =
        "$scrypt$ln=11,r=4,p=2$kJYPT6Ld5X+XuycgP2rFuw$5/9k8mVK+Ld9fwDjdFkysmG3cUqaCe9JWPlguoE5W34";
    // Ambiguous ln=16 made with N = 16 (Kratos's reading).
    const SCRYPT_N16: &str = "$scrypt$ln=16,r=8,p=1$xKyQd2+UdYj6ORNPGxQB3w==$4DTqh5pA3/B4jwl7kfwYApW3AgTuttjou/zx8cS6CfE=";

    fn check(stored: &str) -> Verification {
        let v = verify_password(PASSWORD, stored, &CHEAP).expect("verifies");
        let wrong =
            verify_password("correct horse battery stapler", stored, &CHEAP).expect("verifies");
        assert!(!wrong.matched, "wrong password matched {stored}");
        v
    }

    #[test]
    fn round_trip() {
        let hash = hash_password(PASSWORD, &CHEAP).expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=256,t=2,p=1$"), "{hash}");
        let v = check(&hash);
        assert_eq!(
            v,
            Verification {
                matched: true,
                needs_rehash: false
            }
        );
        assert_ne!(
            hash,
            hash_password(PASSWORD, &CHEAP).expect("hash"),
            "salt is random"
        );
    }

    #[test]
    fn default_params_are_owasp_minimum_and_verify_foreign_hash() {
        let params = Argon2Params::default();
        assert_eq!(
            (params.m_cost_kib, params.t_cost, params.p_cost),
            (19_456, 2, 1)
        );
        let v = verify_password(PASSWORD, ARGON2ID_OWASP, &params).expect("verifies");
        assert!(v.matched && !v.needs_rehash);
    }

    #[test]
    fn wrong_password() {
        let hash = hash_password(PASSWORD, &CHEAP).expect("hash");
        let v = verify_password("Correct horse battery staple", &hash, &CHEAP).expect("verifies");
        assert!(!v.matched);
        let v = verify_password("", &hash, &CHEAP).expect("verifies");
        assert!(!v.matched);
    }

    #[test]
    fn argon2_from_other_implementations() {
        assert!(check(ARGON2ID).matched);
        assert!(!check(ARGON2ID).needs_rehash);
        let v = check(ARGON2I);
        assert!(v.matched);
        assert!(v.needs_rehash, "argon2i is upgraded to argon2id");
    }

    #[test]
    fn weaker_argon2_params_need_rehash() {
        let stronger = Argon2Params {
            m_cost_kib: 512,
            ..CHEAP
        };
        let v = verify_password(PASSWORD, ARGON2ID, &stronger).expect("verifies");
        assert!(v.matched && v.needs_rehash);
        let more_passes = Argon2Params { t_cost: 3, ..CHEAP };
        assert!(
            verify_password(PASSWORD, ARGON2ID, &more_passes)
                .expect("v")
                .needs_rehash
        );
        // Stronger than configured is fine.
        let weaker = Argon2Params {
            m_cost_kib: 64,
            t_cost: 1,
            p_cost: 1,
        };
        assert!(
            !verify_password(PASSWORD, ARGON2ID, &weaker)
                .expect("v")
                .needs_rehash
        );
    }

    #[test]
    fn bcrypt_variants_match_and_need_rehash() {
        for stored in [BCRYPT_2B, BCRYPT_2A, BCRYPT_2Y] {
            let v = check(stored);
            assert!(v.matched, "{stored}");
            assert!(v.needs_rehash, "{stored}");
        }
    }

    #[test]
    fn bcrypt_refuses_passwords_it_would_truncate() {
        let long = "a".repeat(73);
        let v = verify_password(&long, BCRYPT_2B, &CHEAP).expect("verifies");
        assert!(!v.matched);
    }

    #[test]
    fn pbkdf2_in_kratos_format() {
        for stored in [PBKDF2_SHA256, PBKDF2_SHA512, PBKDF2_SHA1, PBKDF2_PADDED] {
            let v = check(stored);
            assert!(v.matched && v.needs_rehash, "{stored}");
        }
        // `l` is optional.
        let without_l = PBKDF2_SHA256.replace("i=10000,l=32", "i=10000");
        assert!(check(&without_l).matched);
    }

    #[test]
    fn scrypt_accepts_n_and_log2_n() {
        for stored in [SCRYPT_KRATOS, SCRYPT_LOG2, SCRYPT_N16] {
            let v = check(stored);
            assert!(v.matched && v.needs_rehash, "{stored}");
        }
    }

    #[test]
    fn absurd_parameters_are_refused_before_any_work() {
        let cases = [
            "$argon2id$v=19$m=2097152,t=2,p=1$KMJKevXqS9bv/MOWagQy8g$hIIrBPVjgW5N5Lu1QlOqBORuXdwq20jsF6MRn9YHfhM",
            "$argon2id$v=19$m=256,t=21,p=1$KMJKevXqS9bv/MOWagQy8g$hIIrBPVjgW5N5Lu1QlOqBORuXdwq20jsF6MRn9YHfhM",
            "$argon2i$v=19$m=256,t=2,p=99999$KMJKevXqS9bv/MOWagQy8g$hIIrBPVjgW5N5Lu1QlOqBORuXdwq20jsF6MRn9YHfhM",
            "$pbkdf2-sha256$i=10000001,l=32$7Ay+wlmNrfuE5bGX0E+5LA$CC4uM7fQun9/E0LUWUf/5fq1A6LM1YIwpOYegWvIpUg",
            "$pbkdf2-sha256$i=99999999999,l=32$7Ay+wlmNrfuE5bGX0E+5LA$CC4uM7fQun9/E0LUWUf/5fq1A6LM1YIwpOYegWvIpUg",
            "$scrypt$ln=2097152,r=8,p=1$DocfkQMTUxNr+ZSAIHY4oGVXudaZzQu3MVGkrZb3P5A=$+IQM1V/foIlP10KiLVBQ6pLUc9no3YkbnWTRFmL8H4U=",
            "$scrypt$ln=21,r=8,p=1$DocfkQMTUxNr+ZSAIHY4oGVXudaZzQu3MVGkrZb3P5A=$+IQM1V/foIlP10KiLVBQ6pLUc9no3YkbnWTRFmL8H4U=",
            "$scrypt$ln=1048576,r=16,p=1$DocfkQMTUxNr+ZSAIHY4oGVXudaZzQu3MVGkrZb3P5A=$+IQM1V/foIlP10KiLVBQ6pLUc9no3YkbnWTRFmL8H4U=",
            "$scrypt$ln=1024,r=8,p=1000$DocfkQMTUxNr+ZSAIHY4oGVXudaZzQu3MVGkrZb3P5A=$+IQM1V/foIlP10KiLVBQ6pLUc9no3YkbnWTRFmL8H4U=",
            "$2b$17$jZFHrM4vaeiKis2PFLs.euqH8yulNovcdp3uGdHMGx94O8nMCFn8u",
            "$2b$31$jZFHrM4vaeiKis2PFLs.euqH8yulNovcdp3uGdHMGx94O8nMCFn8u",
        ];
        for stored in cases {
            assert!(
                matches!(
                    verify_password(PASSWORD, stored, &CHEAP),
                    Err(PasswordError::Unsupported(_))
                ),
                "{stored}"
            );
        }
    }

    #[test]
    fn unknown_and_malformed_hashes_are_errors() {
        let cases = [
            "",
            "$",
            "plaintext",
            "$md5$abc$def",
            "$2x$04$jZFHrM4vaeiKis2PFLs.euqH8yulNovcdp3uGdHMGx94O8nMCFn8u",
            "$2b$04$short",
            "$2b$0a$jZFHrM4vaeiKis2PFLs.euqH8yulNovcdp3uGdHMGx94O8nMCFn8u",
            "$argon2id$v=19$m=256,t=2$KMJKevXqS9bv/MOWagQy8g$hIIrBPVjgW5N5Lu1QlOqBORuXdwq20jsF6MRn9YHfhM",
            "$argon2id$v=19$m=256,t=2,p=1$not base64!$hIIrBPVjgW5N5Lu1QlOqBORuXdwq20jsF6MRn9YHfhM",
            "$argon2id$v=19$m=+256,t=2,p=1$KMJKevXqS9bv/MOWagQy8g$hIIrBPVjgW5N5Lu1QlOqBORuXdwq20jsF6MRn9YHfhM",
            "$argon2id$v=19$m=1,t=2,p=1$KMJKevXqS9bv/MOWagQy8g$hIIrBPVjgW5N5Lu1QlOqBORuXdwq20jsF6MRn9YHfhM",
            "$argon2id$v=19$m=256,t=2,p=1$$hIIrBPVjgW5N5Lu1QlOqBORuXdwq20jsF6MRn9YHfhM",
            "$argon2id$v=19$m=256,t=2,p=1$KMJKevXqS9bv/MOWagQy8g$",
            "$argon2id$v=42$m=256,t=2,p=1$KMJKevXqS9bv/MOWagQy8g$hIIrBPVjgW5N5Lu1QlOqBORuXdwq20jsF6MRn9YHfhM",
            "$pbkdf2-sha256$i=0,l=32$7Ay+wlmNrfuE5bGX0E+5LA$CC4uM7fQun9/E0LUWUf/5fq1A6LM1YIwpOYegWvIpUg",
            "$pbkdf2-sha224$i=10,l=28$7Ay+wlmNrfuE5bGX0E+5LA$CC4uM7fQun9/E0LUWUf/5fq1A6LM1YIwpOYegWvIpUg",
            "$scrypt$ln=1000,r=8,p=1$DocfkQMTUxNr+ZSAIHY4oGVXudaZzQu3MVGkrZb3P5A=$+IQM1V/foIlP10KiLVBQ6pLUc9no3YkbnWTRFmL8H4U=",
            "$scrypt$ln=0,r=8,p=1$DocfkQMTUxNr+ZSAIHY4oGVXudaZzQu3MVGkrZb3P5A=$+IQM1V/foIlP10KiLVBQ6pLUc9no3YkbnWTRFmL8H4U=",
            "$scrypt$ln=1024,r=0,p=1$DocfkQMTUxNr+ZSAIHY4oGVXudaZzQu3MVGkrZb3P5A=$+IQM1V/foIlP10KiLVBQ6pLUc9no3YkbnWTRFmL8H4U=",
        ];
        for stored in cases {
            assert!(
                verify_password(PASSWORD, stored, &CHEAP).is_err(),
                "{stored:?}"
            );
        }
    }

    #[test]
    fn empty_and_unicode_passwords_against_every_format() {
        let all = [
            ARGON2ID,
            ARGON2I,
            BCRYPT_2B,
            BCRYPT_2A,
            BCRYPT_2Y,
            PBKDF2_SHA256,
            PBKDF2_SHA512,
            PBKDF2_SHA1,
            PBKDF2_PADDED,
            SCRYPT_KRATOS,
            SCRYPT_LOG2,
            SCRYPT_N16,
        ];
        for stored in all {
            for password in ["", "\0", "pässwörd 🔑"] {
                let v = verify_password(password, stored, &CHEAP).expect("verifies");
                assert!(!v.matched, "{stored}");
            }
        }
        let hash = hash_password("", &CHEAP).expect("hash");
        assert!(verify_password("", &hash, &CHEAP).expect("v").matched);
    }

    #[test]
    fn overlong_passwords_are_refused() {
        let long = "x".repeat(MAX_PASSWORD_LEN + 1);
        assert_eq!(hash_password(&long, &CHEAP), Err(PasswordError::TooLong));
        assert_eq!(
            verify_password(&long, ARGON2ID, &CHEAP),
            Err(PasswordError::TooLong)
        );
        let longest = "x".repeat(MAX_PASSWORD_LEN);
        let hash = hash_password(&longest, &CHEAP).expect("hash");
        assert!(verify_password(&longest, &hash, &CHEAP).expect("v").matched);
    }

    #[test]
    fn invalid_params_for_new_hashes() {
        let bad = Argon2Params {
            m_cost_kib: 1,
            t_cost: 1,
            p_cost: 1,
        };
        assert_eq!(
            hash_password(PASSWORD, &bad),
            Err(PasswordError::InvalidParams)
        );
        let huge = Argon2Params {
            m_cost_kib: u32::MAX,
            ..CHEAP
        };
        assert_eq!(
            hash_password(PASSWORD, &huge),
            Err(PasswordError::InvalidParams)
        );
    }

    #[test]
    fn dummy_verify_runs_with_any_params() {
        dummy_verify(PASSWORD, &CHEAP);
        dummy_verify(&"x".repeat(10_000), &CHEAP);
        dummy_verify(
            PASSWORD,
            &Argon2Params {
                m_cost_kib: 0,
                t_cost: 0,
                p_cost: 0,
            },
        );
    }

    mod never_panics {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

            #[test]
            fn on_arbitrary_stored_strings(stored in "\\PC{0,120}") {
                let _ = verify_password(PASSWORD, &stored, &CHEAP);
            }

            #[test]
            fn on_mutated_real_hashes(
                which in 0usize..8,
                at in 0usize..200,
                // No digits: a mutation must not be able to raise a cost parameter (the bounds allow
                // costs that are legitimate but far too slow for a unit test).
                replacement in "[$=,a-zA-Z+/.]{0,4}",
            ) {
                let base = [ARGON2ID, ARGON2I, BCRYPT_2B, PBKDF2_SHA1, PBKDF2_PADDED,
                    SCRYPT_KRATOS, SCRYPT_LOG2, SCRYPT_N16][which];
                let at = at.min(base.len());
                let stored = format!("{}{}{}", &base[..at], replacement, &base[(at + 1).min(base.len())..]);
                let _ = verify_password(PASSWORD, &stored, &CHEAP);
            }
        }
    }
}

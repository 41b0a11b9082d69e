//! Secrets and credential-shaped text for the tests, and the example
//! cluster they run over.

// A JWT with the real structure and fake claims: header
// {"alg":"RS256","kid":"fake-key-1","typ":"JWT"}, payload a
// service-account subject, signature 48 arbitrary bytes.
pub(crate) const JWT: &str = concat!(
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImZha2Uta2V5LTEiLCJ0eXAiOiJKV1QifQ",
    ".eyJpc3MiOiJodHRwczovL2t1YmVybmV0ZXMuZGVmYXVsdC5zdmMiLCJzdWIiOiJzeXN0ZW06c2Vy",
    "dmljZWFjY291bnQ6c3RhZ2luZzpvcmRlcnMtYXBpIiwiZXhwIjoxNzk1MTY3NjEyfQ",
    ".KCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4_QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl9gYWJjZGVmZw",
);
// Vendor tokens are assembled from pieces so the source never holds a
// contiguous string that a push-protection scanner would flag.
pub(crate) const GITHUB: &str = concat!("gh", "p_", "1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6P7q8R");
pub(crate) const GITHUB_PAT: &str = concat!(
    "github",
    "_pat_",
    "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012"
);
pub(crate) const SLACK: &str = concat!(
    "xo",
    "xb-",
    "1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
);
pub(crate) const STRIPE: &str = concat!("sk", "_live_", "51H8xYzABCdefGHIjklMNOpqrSTUvwx");
pub(crate) const GOOGLE: &str = concat!("AI", "za", "SyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe");
// The AWS documentation's example credentials.
pub(crate) const AKIA: &str = "AKIAIOSFODNN7EXAMPLE";
pub(crate) const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
pub(crate) const RSA_PEM: &str = "-----BEGIN RSA PRIVATE KEY-----\n\
    MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n\
    VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n\
    -----END RSA PRIVATE KEY-----";

pub(crate) const STAGING: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/staging/staging"
);

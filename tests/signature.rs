//! The `signature` feature against answers computed independently: each
//! expected signature below was made by the official Python SDK's own code
//! (qingcloud-sdk 1.2.16, `QuerySignatureAuthHandler._calc_signature`) for
//! these parameters, secret `SECRETACCESSKEY` and time.

use joblog::chrono::{DateTime, Duration, Utc};
use joblog::signature::{self, Method, SignatureError};

/// The request the SDK signed (it adds `signature_method` itself).
fn request(method: Method) -> Vec<(&'static str, &'static str)> {
    vec![
        ("action", "DescribeClusterJobs"),
        ("app", "app-tg3lbp0a"),
        ("status.1", "pending"),
        ("limit", "5"),
        ("zone", "pek3a"),
        ("access_key_id", "QYACCESSKEYIDEXAMPLE"),
        ("signature_version", "1"),
        ("version", "1"),
        ("time_stamp", "2018-03-04T05:37:58Z"),
        // A space, a non-ASCII letter and reserved bytes, to pin the encoding.
        ("owner", "usr-1 ü/+~"),
        ("signature_method", method.as_str()),
    ]
}

const SECRET: &str = "SECRETACCESSKEY";
const SHA256_GET: &str = "r4XUzumem039DPdDJb9bTADtu+s5dwavZYwZ1WJNJUs=";
const SHA256_POST: &str = "8ffp6oPLa5oRs+fznPjvp6DUVTHROQKBMfFp7W7hEYo=";
const SHA1_GET: &str = "Bkvs3ovZaNJA6DhLIfGEA/V3YAM=";

#[test]
fn signatures_equal_the_official_sdks() {
    let params = request(Method::HmacSha256);
    assert_eq!(
        signature::string_to_sign("GET", "/iaas/", &params),
        "GET\n/iaas/\naccess_key_id=QYACCESSKEYIDEXAMPLE&action=DescribeClusterJobs\
         &app=app-tg3lbp0a&limit=5&owner=usr-1%20%C3%BC%2F%2B~&signature_method=HmacSHA256\
         &signature_version=1&status.1=pending&time_stamp=2018-03-04T05%3A37%3A58Z\
         &version=1&zone=pek3a"
    );
    let sign = |method, verb| signature::sign(method, SECRET, verb, "/iaas/", &request(method));
    assert_eq!(sign(Method::HmacSha256, "GET"), SHA256_GET);
    assert_eq!(sign(Method::HmacSha256, "POST"), SHA256_POST);
    assert_eq!(sign(Method::HmacSha1, "GET"), SHA1_GET);
}

fn signed(method: Method, signature: &'static str) -> Vec<(&'static str, &'static str)> {
    let mut params = request(method);
    params.push(("signature", signature));
    params
}

#[test]
fn verify_accepts_the_sdks_signatures_and_refuses_the_rest() {
    let ok =
        |secret, verb, params: &[(&str, &str)]| signature::verify(secret, verb, "/iaas/", params);
    assert_eq!(
        ok(SECRET, "GET", &signed(Method::HmacSha256, SHA256_GET)),
        Ok(())
    );
    assert_eq!(
        ok(SECRET, "POST", &signed(Method::HmacSha256, SHA256_POST)),
        Ok(())
    );
    assert_eq!(
        ok(SECRET, "GET", &signed(Method::HmacSha1, SHA1_GET)),
        Ok(())
    );
    // A wrong secret, verb or parameter, a signature of another method.
    let mismatch = Err(SignatureError::Mismatch);
    assert_eq!(
        ok("WRONG", "GET", &signed(Method::HmacSha256, SHA256_GET)),
        mismatch
    );
    assert_eq!(
        ok(SECRET, "POST", &signed(Method::HmacSha256, SHA256_GET)),
        mismatch
    );
    let mut changed = signed(Method::HmacSha256, SHA256_GET);
    changed[3] = ("limit", "6");
    assert_eq!(ok(SECRET, "GET", &changed), mismatch);
    assert_eq!(
        ok(SECRET, "GET", &signed(Method::HmacSha1, SHA256_GET)),
        mismatch
    );
    assert_eq!(
        ok(SECRET, "GET", &signed(Method::HmacSha256, "not base64!")),
        mismatch
    );
    // Missing, repeated and unknown parameters, each with its words.
    let refused = |params: Vec<(&str, &str)>| {
        let err = signature::verify(SECRET, "GET", "/iaas/", &params).unwrap_err();
        assert_eq!(err.ret_code(), 1200);
        err.to_string()
    };
    assert_eq!(
        refused(request(Method::HmacSha256)),
        "AuthenticationFailed, the request needs exactly one [signature]"
    );
    let mut twice = signed(Method::HmacSha256, SHA256_GET);
    twice.push(("signature", SHA256_GET));
    assert_eq!(
        refused(twice),
        "AuthenticationFailed, the request needs exactly one [signature]"
    );
    let mut method = signed(Method::HmacSha256, SHA256_GET);
    method[10] = ("signature_method", "HmacMD5");
    assert_eq!(
        refused(method),
        "AuthenticationFailed, signature_method [HmacMD5] is not HmacSHA256 or HmacSHA1"
    );
    let mut version = signed(Method::HmacSha256, SHA256_GET);
    version[6] = ("signature_version", "2");
    assert_eq!(
        refused(version),
        "AuthenticationFailed, signature_version [2] is not 1"
    );
    let no_version: Vec<_> = signed(Method::HmacSha256, SHA256_GET)
        .into_iter()
        .filter(|(name, _)| *name != "signature_version")
        .collect();
    assert_eq!(
        refused(no_version),
        "AuthenticationFailed, the request needs exactly one [signature_version]"
    );
    assert_eq!(
        refused(signed(Method::HmacSha1, "AAAA")),
        "AuthenticationFailed, the signature does not match the request"
    );
}

#[test]
fn times_are_checked_against_the_now_given() {
    let at = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
    let params = request(Method::HmacSha256);
    let window = Duration::minutes(10);
    let check = |params: &[(&str, &str)], now| signature::check_time(params, now, window);
    assert_eq!(check(&params, at("2018-03-04T05:40:00Z")), Ok(()));
    assert_eq!(check(&params, at("2018-03-04T05:30:00Z")), Ok(()));
    let old = check(&params, at("2018-03-04T06:00:00Z")).unwrap_err();
    assert_eq!(old.ret_code(), 1300);
    assert_eq!(
        old.to_string(),
        "MessageExpired, the request has expired by its [time_stamp]"
    );
    let mut expiring = params.clone();
    expiring.push(("expires", "2018-03-04T05:38:30Z"));
    assert_eq!(check(&expiring, at("2018-03-04T05:38:00Z")), Ok(()));
    let expired = check(&expiring, at("2018-03-04T05:38:30Z")).unwrap_err();
    assert_eq!(
        expired.to_string(),
        "MessageExpired, the request has expired by its [expires]"
    );
    let mut bad = params.clone();
    bad[8] = ("time_stamp", "yesterday");
    let err = check(&bad, at("2018-03-04T05:38:00Z")).unwrap_err();
    assert_eq!(
        (err.ret_code(), err.to_string()),
        (
            1200,
            "AuthenticationFailed, [time_stamp] is not an RFC 3339 time".to_owned()
        )
    );
    let none: Vec<_> = params
        .into_iter()
        .filter(|(name, _)| *name != "time_stamp")
        .collect();
    assert_eq!(
        check(&none, at("2018-03-04T05:38:00Z"))
            .unwrap_err()
            .to_string(),
        "AuthenticationFailed, the request needs exactly one [time_stamp]"
    );
}

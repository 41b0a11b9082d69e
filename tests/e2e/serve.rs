//! Child processes of the tests, killed on drop, and a loopback port
//! nothing listens on. (The live path's tests run against a real
//! kube-apiserver: `guardian_tests::kube`, `crate::cluster`.)

use std::net::TcpListener;
use std::process::Child;

/// A child process killed (and reaped) on drop, whatever the test does.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port nothing listens on.
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

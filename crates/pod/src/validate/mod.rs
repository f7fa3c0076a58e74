//! `hostproc pod validate`: the API server's checks of HostProcess pods (in progress).

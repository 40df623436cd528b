//! The node's image store: images imported from docker-archive or
//! OCI-layout tars, unpacked once, found by reference.

"""A self-contained stand-in for the outside world, for the offline demo and
the tests: a real Distribution registry on loopback, a tiny real multi-arch
base image made from Debian's busybox-static, and real upstream git
repositories with commits, branches and tags."""

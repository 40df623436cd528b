#!/usr/bin/env bash
# Installs what building and testing keel needs, idempotently. Sourced by
# tests/run.sh (the test suite) and kv-server/start.sh (the Quick start).
#
#   libclang-dev, g++        bindgen and the C++ build of RocksDB
#   etcd-server, etcd-client the reference etcd 3.4 and etcdctl the
#                            compatibility suite runs against
keel_install_prereqs() {
    local apt_packages=(libclang-dev g++ etcd-server etcd-client)
    local missing=()
    local package
    for package in "${apt_packages[@]}"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    ((${#missing[@]})) || return 0
    local sudo_cmd=()
    [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
    echo "installing: ${missing[*]}"
    # Debian's etcd-server would start an etcd service on 2379; the tests
    # start their own servers, so keep the package from starting one.
    local policy=/usr/sbin/policy-rc.d
    local added_policy=
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
        "${sudo_cmd[@]}" chmod +x "$policy"
        added_policy=1
    fi
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
    [[ -z $added_policy ]] || "${sudo_cmd[@]}" rm -f "$policy"
}

#!/usr/bin/env bash
# Installs what building and testing keel needs, idempotently. Sourced by
# tests/run.sh (the test suite) and kv-server/start.sh (the Quick start).
#
#   libclang-dev, g++        bindgen and the C++ build of RocksDB
#   etcd-server, etcd-client the reference etcd 3.4 and etcdctl the
#                            compatibility suite runs against
#   python3, python3-venv    the virtualenv of the Python client below
#   busybox-static           the busybox the kubelet's test image is built from
#   iproute2                 `ip`: the kubelet's pod network namespaces and bridge
#
# and, outside the system's directories, under $KEEL_TOOLS_DIR
# (default ~/.cache/keel-tools; tests/src/binaries.rs looks there):
#
#   python/                  a virtualenv with the official Kubernetes
#                            Python client (PyPI's `kubernetes`), which
#                            the HTTP front's client tests drive
#   kubectl-1.20/usr/bin/kubectl
#                            Debian's kubernetes-client (kubectl 1.20),
#                            unpacked beside, not over, the installed one
keel_install_prereqs() {
    keel_install_apt_packages libclang-dev g++ etcd-server etcd-client python3 python3-venv \
        busybox-static iproute2
    keel_install_python_client
    keel_install_kubectl_1_20
}

# The Kubernetes Python client's version: 33.x speaks the Kubernetes 1.33
# APIs that the HTTP front serves.
KEEL_PYTHON_KUBERNETES_VERSION=33.1.0
# kubectl 1.20 comes from this Debian package (bookworm has 1.20).
KEEL_KUBECTL_1_20_PACKAGE=kubernetes-client

keel_tools_dir() {
    echo "${KEEL_TOOLS_DIR:-$HOME/.cache/keel-tools}"
}

# Installs the apt packages named that are not installed yet.
keel_install_apt_packages() {
    local missing=()
    local package
    for package in "$@"; do
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

# The official Kubernetes Python client in a virtualenv of Debian's
# python3, never in the system's Python.
keel_install_python_client() {
    local venv
    venv="$(keel_tools_dir)/python"
    local wanted=$KEEL_PYTHON_KUBERNETES_VERSION
    if [[ -x $venv/bin/python ]] &&
        [[ $("$venv/bin/python" -c 'import kubernetes; print(kubernetes.__version__)' 2>/dev/null) == "$wanted" ]]; then
        return 0
    fi
    echo "installing: kubernetes==$wanted (Python) into $venv"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "kubernetes==$wanted"
}

# kubectl 1.20 from Debian's package, unpacked (not installed) so that the
# kubectl on PATH stays what it is.
keel_install_kubectl_1_20() {
    local dir
    dir="$(keel_tools_dir)/kubectl-1.20"
    if [[ -x $dir/usr/bin/kubectl ]] &&
        "$dir/usr/bin/kubectl" version --client --short 2>/dev/null | grep -q 'v1\.20\.'; then
        return 0
    fi
    echo "installing: kubectl 1.20 ($KEEL_KUBECTL_1_20_PACKAGE) into $dir"
    local sudo_cmd=()
    [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
    local download
    download=$(mktemp -d)
    # apt's _apt user must be able to write where the package lands.
    chmod 0777 "$download"
    if ! (cd "$download" && apt-get download -qq "$KEEL_KUBECTL_1_20_PACKAGE" 2>/dev/null); then
        "${sudo_cmd[@]}" apt-get update -qq
        (cd "$download" && apt-get download -qq "$KEEL_KUBECTL_1_20_PACKAGE")
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    dpkg -x "$download"/"$KEEL_KUBECTL_1_20_PACKAGE"_*.deb "$dir"
    rm -rf "$download"
    "$dir/usr/bin/kubectl" version --client --short | grep -q 'v1\.20\.' || {
        echo "$dir/usr/bin/kubectl is not kubectl 1.20" >&2
        return 1
    }
}

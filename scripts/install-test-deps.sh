#!/usr/bin/env bash
# Installs the system packages the test suite needs, and only those that are missing, so it is
# safe to run before every test session. Debian 12 (bookworm); only Debian's mirrors are used.
set -euo pipefail

# One entry per package: "CHECK : PACKAGE". CHECK is either a command name (looked up in PATH)
# or a path, possibly a glob (anything containing a "/"); the package counts as present when the
# check matches. Add new requirements here.
REQUIREMENTS=(
  "/usr/lib/postgresql/*/bin/initdb : postgresql"
  "/usr/bin/chromium : chromium"
  "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc : fonts-wqy-microhei"
  # Slurm for tests/executors/test_slurm.py (scripts/slurm-dev.sh starts the cluster).
  "/usr/sbin/slurmctld : slurmctld"
  "/usr/sbin/slurmd : slurmd"
  "/usr/bin/sbatch : slurm-client"
  "/usr/sbin/munged : munge"
  "/usr/sbin/slurmdbd : slurmdbd"
  "/usr/sbin/mariadbd : mariadb-server"
  # The replica sandbox (aicc/executors/sandbox.py); tests run replicas in it.
  "bwrap : bubblewrap"
  # A job's egress `internet` (aicc/executors/netns.py): user-mode networking into its namespace.
  "slirp4netns : slirp4netns"
  # egress internet: nftables in the job's namespace rejects private ranges and the node's addresses.
  "/usr/sbin/nft : nftables"
  # tests/test_deploy.py verifies the systemd unit (deploy/systemd/aicc.service).
  "systemd-analyze : systemd"
  # tests/services/test_reports.py reads the monthly report's PDF back (pdftotext) and draws
  # its first page to a PNG (pdftoppm).
  "pdftoppm : poppler-utils"
  # ... and the Chinese one needs the CID maps of the font every reader carries (STSong-Light).
  "/usr/share/poppler/cMap : poppler-data"
  # Jobs in images on the local, Slurm and Ray executors (aicc/executors/container.py).
  "podman : podman"
  # ... with runc: crun refuses a host whose cgroups are in hybrid mode, runc does not.
  "/usr/sbin/runc : runc"
  # ... conmon holds each container's stdio and exit code for podman.
  "/usr/bin/conmon : conmon"
  # ... and catatonit, the init podman's `--init` runs as each container's PID 1 (a Recommends
  # of podman, so --no-install-recommends leaves it out).
  "/usr/libexec/podman/catatonit : catatonit"
  # ... and the tests' images are busybox-static plus marker files, imported (no registry here).
  "/bin/busybox : busybox-static"
  # The center registry (aicc/registry_process.py): Debian's CNCF Distribution.
  "/usr/bin/docker-registry : docker-registry"
  # Standard registry clients the tests push and pull with, and the base images' build
  # (scripts/build-base-images.sh: mmdebstrap's root file system into an OCI layout by umoci).
  "skopeo : skopeo"
  "umoci : umoci"
  "mmdebstrap : mmdebstrap"
  # Operators' alerts (deploy/prometheus/aicc-alerts.yaml): tests/deploy/test_alert_rules.py
  # runs the shipped rules in Prometheus (and promtool) and routes them through Alertmanager.
  "/usr/bin/prometheus : prometheus"
  "/usr/bin/promtool : prometheus"
  "/usr/bin/prometheus-alertmanager : prometheus-alertmanager"
)

is_present() {
  local check="$1"
  if [[ "$check" == */* ]]; then
    compgen -G "$check" >/dev/null
  else
    command -v "$check" >/dev/null 2>&1
  fi
}

missing_checks=()
missing_packages=()
for entry in "${REQUIREMENTS[@]}"; do
  check="$(echo "${entry%%:*}" | xargs)"
  package="$(echo "${entry#*:}" | xargs)"
  if is_present "$check"; then
    echo "$package: present"
  else
    missing_checks+=("$check")
    missing_packages+=("$package")
  fi
done

if [[ ${#missing_packages[@]} -eq 0 ]]; then
  exit 0
fi

if [[ "$(id -u)" -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  {
    echo "################################################################################"
    echo "WARNING: missing system packages: ${missing_packages[*]}"
    echo "WARNING: not root and sudo is not available, so they cannot be installed here."
    echo "WARNING: install them as root: apt-get install ${missing_packages[*]}"
    echo "WARNING: tests that need them will fail."
    echo "################################################################################"
  } >&2
  for package in "${missing_packages[@]}"; do
    echo "$package: MISSING (not installed: no root, no sudo)"
  done
  exit 0
fi

apt_get=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
"${apt_get[@]}" update -qq
"${apt_get[@]}" install -y -qq --no-install-recommends "${missing_packages[@]}" >/dev/null

status=0
for i in "${!missing_packages[@]}"; do
  if is_present "${missing_checks[$i]}"; then
    echo "${missing_packages[$i]}: installed"
  else
    echo "${missing_packages[$i]}: installed, but '${missing_checks[$i]}' still not found" >&2
    status=1
  fi
done
exit "$status"

# Sourced by bootstrap.sh and check-deb.sh: install the named Debian packages that are missing.
#   apt_ensure WHO PACKAGE…     (WHO prefixes the message; sudo is used when not root)
#
# Another apt run (unattended upgrades, a second setup on a shared machine) may hold the package
# manager's locks for minutes.  apt-get install waits for the dpkg lock when told to
# (DPkg::Lock::Timeout), but apt-get update (apt 2.6) fails at once on the lists lock; so both
# are retried while apt says it could not get a lock, for up to 10 minutes, with one sentence
# saying what we are waiting for.  Any other failure is shown as apt said it.
_apt_get_waiting() {  # WHO apt-get ARGS…
  local who=$1; shift
  local out waited=0
  while :; do
    if out=$("$@" 2>&1); then return 0; fi
    if grep -qE "Could not get lock|Unable to lock|Unable to acquire the dpkg frontend lock" <<<"$out" \
        && [ "$waited" -lt 600 ]; then
      [ "$waited" -eq 0 ] && echo "$who: another program is installing packages (it holds the package manager's lock); waiting for it to finish, up to 10 minutes" >&2
      sleep 5; waited=$((waited + 5)); continue
    fi
    printf '%s\n' "$out" >&2
    return 1
  done
}
apt_ensure() {
  local who=$1; shift
  local missing=() p sudo=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "$who: installing system packages: ${missing[*]}" >&2
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  _apt_get_waiting "$who" "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
  _apt_get_waiting "$who" "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}"
}

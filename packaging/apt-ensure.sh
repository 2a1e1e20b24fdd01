# Sourced by bootstrap.sh and check-deb.sh: install the named Debian packages that are missing.
#   apt_ensure WHO PACKAGE…     (WHO prefixes the message; sudo is used when not root)
apt_ensure() {
  local who=$1; shift
  local missing=() p sudo=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "$who: installing system packages: ${missing[*]}" >&2
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

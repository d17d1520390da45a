# Sourced by scripts/package-test and scripts/dr-drill: a fresh root that holds only what a .deb's
# Depends line brings (plus the packages asked for), with the .deb installed by `dpkg --root`, and a way
# to run commands in it. Needs root.
#
#   clean_root ROOT DEB [PACKAGE...]   make ROOT: the Depends closure of DEB and of PACKAGE..., DEB installed
#   in_root ROOT COMMAND [ARG...]      run COMMAND in a chroot of ROOT, with its own /proc
#
# Downloaded .debs are kept in .test-services/package-debs for the next run.

clean_root() {
  local root="$1" deb="$2"
  shift 2
  local depends names closure cache package file list
  # The packages the Depends line names, and theirs, recursively (Pre-Depends too; virtual packages and
  # alternatives that are not real packages are dropped by apt-cache itself).
  depends=$(dpkg-deb -f "$deb" Depends)
  names=$( (echo "$depends" | tr ',|' '\n\n'; printf '%s\n' "$@") | sed 's/([^)]*)//g; s/:any//; s/ //g' | grep -v '^$' | sort -u)
  closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances $names \
    | grep -v '^ ' | grep -v '^<' | sort -u)
  echo "clean-root: Depends: $depends${*:+; and $*}" >&2
  echo "clean-root: a root with $(echo "$closure" | wc -l) packages: $(echo $closure)" >&2

  cache="$PWD/.test-services/package-debs"
  mkdir -p "$cache"
  chmod 0755 "$PWD/.test-services"
  local missing=()
  for package in $closure; do
    ls "$cache/${package}_"*.deb >/dev/null 2>&1 || missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "clean-root: downloading ${missing[*]}" >&2
    (cd "$cache" && apt-get download -qq -o APT::Sandbox::User=root "${missing[@]}" >/dev/null) \
      || { apt-get update -qq -o DPkg::Lock::Timeout=300 >/dev/null; (cd "$cache" && apt-get download -qq -o APT::Sandbox::User=root "${missing[@]}" >/dev/null); } \
      || { echo "clean-root: cannot download ${missing[*]}" >&2; return 1; }
  fi

  # The closure's files, and a dpkg database that records them as installed (their maintainer scripts
  # would need what the root may not have; shared libraries and programs need none).
  mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers" "$root/tmp" "$root/etc"
  chmod 1777 "$root/tmp"
  : > "$root/var/lib/dpkg/status"
  : > "$root/var/lib/dpkg/available"
  for package in $closure; do
    file=$(ls -t "$cache/${package}_"*.deb | head -n 1)
    dpkg-deb -x "$file" "$root" || return 1
    { dpkg-deb -f "$file" | sed '/^Package:/a Status: install ok installed'; echo; } >> "$root/var/lib/dpkg/status"
    list="$package"
    [ "$(dpkg-deb -f "$file" Multi-Arch)" != same ] || list="$package:$(dpkg-deb -f "$file" Architecture)"
    dpkg-deb --fsys-tarfile "$file" | tar -t | sed 's|^\./|/|; s|/$||; s|^$|/.|' > "$root/var/lib/dpkg/info/$list.list"
  done
  # The device nodes every host has (programs open /dev/null for their standard input).
  mkdir -p "$root/dev"
  mknod -m 666 "$root/dev/null" c 1 3 && mknod -m 666 "$root/dev/zero" c 1 5 \
    && mknod -m 666 "$root/dev/random" c 1 8 && mknod -m 666 "$root/dev/urandom" c 1 9 || return 1
  echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
  echo 'root:x:0:' > "$root/etc/group"

  # (set -e does not reach into a function called with ||: each step above returns on failure.)
  # dpkg checks the Depends line against the root's database: a package it names that is not there fails.
  dpkg --root="$root" --force-script-chrootless -i "$deb" >&2
}

# Its own mount and PID namespaces, so the chroot gets a /proc (the Swift runtime reads the arguments
# from /proc/self/cmdline, as on any server) that goes away with it.
in_root() {
  local root="$1"
  shift
  mkdir -p "$root/proc"
  unshare --mount --pid --fork --mount-proc="$root/proc" chroot "$root" "$@"
}

#!/usr/bin/env bash
# release.sh: build a release offline with the go command only, as
# .goreleaser.yaml does with goreleaser: an archive per OS and architecture
# (tar.gz; zip for Windows) holding the binary, LICENSE, README, CHANGELOG,
# the man page and the shell completions; .deb packages (when dpkg-deb is
# there); and a SHA-256 checksum of every file. .rpm packages come from
# goreleaser's nfpm only.
#
#   scripts/release.sh            # a snapshot: version 0.0.0-SNAPSHOT-<revision>
#   scripts/release.sh v0.1.0     # a release (the tag being released)
#
# Output in dist/ (removed first). Environment: TARGETS (default all eight
# "os/arch" pairs), DIST (dist).
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "release: $*" >&2; exit 1; }

revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then revision="$revision-dirty"; fi
if [ $# -ge 1 ]; then
  version=${1#v}
  case $version in [0-9]*.[0-9]*.[0-9]*) ;; *) die "version $1 is not vX.Y.Z" ;; esac
else
  version="0.0.0-SNAPSHOT-${revision:0:12}"
fi
TARGETS=${TARGETS:-"linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 freebsd/amd64 freebsd/arm64 windows/amd64 windows/arm64"}
DIST=${DIST:-dist}
pkg=github.com/flowscope/flowscope/buildinfo
ldflags="-s -w -X $pkg.version=$version -X $pkg.revision=$revision"
# Archive members get this time, so the same commit gives the same archives.
mtime=$(git log -1 --format=%cI 2>/dev/null || date -u +%FT%TZ)

# The man page and completions must be what the flags make (the test fails
# otherwise): a release never ships stale ones.
go test -run '^TestGeneratedDocsAreCurrent$' . >/dev/null || die "man page or completions stale: run go generate"

rm -rf "$DIST"
mkdir -p "$DIST"
echo "release: flowscope $version ($revision) for $TARGETS"

for target in $TARGETS; do
  os=${target%/*} arch=${target#*/}
  name="flowscope_${version}_${os}_${arch}"
  stage="$DIST/stage/$name"
  exe=flowscope
  [ "$os" = windows ] && exe=flowscope.exe
  mkdir -p "$stage"
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$stage/$exe" .
  cp LICENSE README.md CHANGELOG.md "$stage/"
  cp -r man completions "$stage/"
  if [ "$os" = windows ]; then
    (cd "$DIST/stage" && find "$name" -exec touch -d "$mtime" {} + && zip -qrX "../$name.zip" "$name")
  else
    tar --sort=name --mtime="$mtime" --owner=0 --group=0 --numeric-owner -C "$DIST/stage" -czf "$DIST/$name.tar.gz" "$name"
  fi
done

# Debian packages: the same layout as .goreleaser.yaml's nfpm section.
deb() {
  local arch=$1 bin=$2 root="$DIST/stage/deb-$1"
  mkdir -p "$root/DEBIAN" "$root/usr/bin" "$root/usr/share/man/man1" "$root/usr/lib/systemd/system" \
    "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
    "$root/usr/share/fish/vendor_completions.d" "$root/usr/share/doc/flowscope/deploy" "$root/etc/flowscope"
  install -m 755 "$bin" "$root/usr/bin/flowscope"
  gzip -9n <man/flowscope.1 >"$root/usr/share/man/man1/flowscope.1.gz"
  install -m 644 completions/flowscope.bash "$root/usr/share/bash-completion/completions/flowscope"
  install -m 644 completions/_flowscope "$root/usr/share/zsh/vendor-completions/_flowscope"
  install -m 644 completions/flowscope.fish "$root/usr/share/fish/vendor_completions.d/flowscope.fish"
  install -m 644 deploy/systemd/flowscope-server.service deploy/systemd/flowscope-mesh.service \
    deploy/systemd/flowscope-mesh.timer "$root/usr/lib/systemd/system/"
  install -m 644 deploy/flowscope.env "$root/etc/flowscope/flowscope.env"
  install -m 644 LICENSE "$root/usr/share/doc/flowscope/copyright"
  install -m 644 README.md CHANGELOG.md "$root/usr/share/doc/flowscope/"
  install -m 644 deploy/README.md deploy/prometheus.yml deploy/flowscope-rules.yml deploy/flowscope-rules.test.yml \
    deploy/grafana-dashboard.json deploy/flowscope-mesh.sh "$root/usr/share/doc/flowscope/deploy/"
  echo /etc/flowscope/flowscope.env >"$root/DEBIAN/conffiles"
  cat >"$root/DEBIAN/control" <<CONTROL
Package: flowscope
Version: $version
Architecture: $arch
Maintainer: The flowscope authors <https://github.com/flowscope/flowscope/issues>
Section: net
Priority: optional
Homepage: https://github.com/flowscope/flowscope
Installed-Size: $(du -sk "$root" | cut -f1)
Description: network throughput benchmark with a live view, iperf3 compatible
 flowscope measures TCP and UDP throughput between hosts with 1 to 10,000
 streams, shows them live in the terminal and says why a stream is slow or
 stalled, from the kernel's view of its socket. It speaks iperf3's protocol.
CONTROL
  find "$root" -exec touch -d "$mtime" {} +
  dpkg-deb --root-owner-group -Zgzip --build "$root" "$DIST/flowscope_${version}_${arch}.deb" >/dev/null
}
if command -v dpkg-deb >/dev/null 2>&1; then
  for target in $TARGETS; do
    case $target in linux/*) deb "${target#*/}" "$DIST/stage/flowscope_${version}_linux_${target#*/}/flowscope" ;; esac
  done
else
  echo "release: no dpkg-deb: no .deb packages"
fi

rm -rf "$DIST/stage"
(cd "$DIST" && sha256sum -- * >"flowscope_${version}_checksums.txt")
ls -l "$DIST"

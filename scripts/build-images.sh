#!/usr/bin/env bash
# Build the images pods run here, without a registry: rootfs tarballs from Debian packages,
# loaded with `docker import` into the daemon DOCKER_HOST names (the local one by default).
#   scripts/build-images.sh [nginx|busybox|pause ...]   (default: all three)
# Images:  nginx:latest            Debian's nginx + its libraries (apt-get download, dpkg -x),
#                                  the "Welcome to nginx!" page on 80, and on 443 with a
#                                  self-signed certificate made here; busybox for sh/cat/wget
#          busybox:latest          busybox-static and its applets (sh, httpd, nc, wget...)
#          minikube8s/pause:latest the pod sandbox: a static C program that sleeps until
#                                  SIGTERM/SIGINT and reaps children (scripts/pause.c)
# Rootfs tarballs are cached in .cache/images/<name>.tar; a second run only imports them, and
# does nothing for images the daemon already has (FORCE=1 rebuilds everything).
# Env: DOCKER (docker CLI, default docker), DOCKER_HOST, CACHE_DIR, FORCE, NO_IMPORT=1 (only
# build the tarballs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
CACHE_DIR=${CACHE_DIR:-$root/.cache/images}
DOCKER=${DOCKER:-docker}
FORCE=${FORCE:-}
NO_IMPORT=${NO_IMPORT:-}
mkdir -p "$CACHE_DIR"

log() { echo "build-images: $*" >&2; }

# deb PKG DIR: the .deb of PKG's candidate version into DIR (apt's cache first, then a download).
deb() {
    local pkg=$1 dir=$2 ver file
    ver=$(apt-cache policy "$pkg" | awk '/Candidate:/ {print $2}')
    [ -n "$ver" ] && [ "$ver" != "(none)" ] || { log "no candidate for $pkg"; return 1; }
    file=$(ls /var/cache/apt/archives/"${pkg}_${ver//:/%3a}"_*.deb 2>/dev/null | head -1 || true)
    if [ -n "$file" ]; then
        cp "$file" "$dir/"
    else
        (cd "$dir" && apt-get download -qq "$pkg=$ver" 2>/dev/null) \
            || (cd "$dir" && apt-get download -qq "$pkg")
    fi
}

# lib_closure PKG...: PKG plus the library packages it depends on, recursively (Depends and
# Pre-Depends only; tools a package script needs, such as iproute2 or debconf, are left out).
lib_closure() {
    local -A seen=()
    local queue=("$@") p d
    while [ ${#queue[@]} -gt 0 ]; do
        p=${queue[0]}; queue=("${queue[@]:1}")
        [ -n "${seen[$p]:-}" ] && continue
        seen[$p]=1
        echo "$p"
        while read -r d; do
            case $d in
                lib*|zlib1g|gcc-*-base) [ -z "${seen[$d]:-}" ] && queue+=("$d") ;;
            esac
        done < <(apt-cache depends -i --no-recommends --no-suggests "$p" 2>/dev/null \
                 | awk '/(Pre)?Depends:/ {print $2}' | grep -v '^<' | sed 's/:any$//')
    done
}

# rootfs_tar DIR NAME: DIR as a root-owned tarball, the cache entry for NAME.
rootfs_tar() {
    tar --numeric-owner --owner=0 --group=0 -C "$1" -cf "$CACHE_DIR/$2.tar.tmp" .
    mv "$CACHE_DIR/$2.tar.tmp" "$CACHE_DIR/$2.tar"
}

busybox_into() {  # busybox_into DIR: /bin/busybox and a symlink per applet not already there
    local dir=$1 tmp applet
    tmp=$(mktemp -d)
    deb busybox-static "$tmp"
    dpkg -x "$tmp"/busybox-static_*.deb "$tmp/x"
    mkdir -p "$dir/bin"
    cp "$tmp/x/bin/busybox" "$dir/bin/busybox"
    for applet in $("$dir/bin/busybox" --list-full); do
        [ -e "$dir/$applet" ] || [ -L "$dir/$applet" ] && continue
        mkdir -p "$dir/$(dirname "$applet")"
        ln -s /bin/busybox "$dir/$applet"
    done
    rm -rf "$tmp"
}

base_files() {  # base_files DIR: the few files every image needs
    local dir=$1
    mkdir -p "$dir"/{etc,tmp,proc,sys,dev,root,var/run,run}
    chmod 1777 "$dir/tmp"
    cat > "$dir/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
P
    cat > "$dir/etc/group" <<'G'
root:x:0:
www-data:x:33:
nogroup:x:65534:
G
    echo "hosts: files dns" > "$dir/etc/nsswitch.conf"
}

build_pause() {
    local work=$1
    mkdir -p "$work/rootfs"
    gcc -static -O2 -s -o "$work/rootfs/pause" "$here/pause.c"
    rootfs_tar "$work/rootfs" pause
}

build_busybox() {
    local work=$1
    base_files "$work/rootfs"
    busybox_into "$work/rootfs"
    rootfs_tar "$work/rootfs" busybox
}

build_nginx() {
    local work=$1 r=$work/rootfs pkgs p
    mkdir -p "$work/debs" "$r"
    mapfile -t pkgs < <(lib_closure nginx nginx-common)
    log "nginx: packages ${pkgs[*]}"
    for p in "${pkgs[@]}"; do deb "$p" "$work/debs"; done
    for p in "$work"/debs/*.deb; do dpkg -x "$p" "$r"; done
    base_files "$r"
    busybox_into "$r"
    rm -rf "$r"/usr/share/{doc,man,info,lintian,locale} "$r"/etc/init.d "$r"/lib/systemd
    mkdir -p "$r"/var/log/nginx "$r"/var/lib/nginx/body "$r"/var/www "$r"/etc/nginx/ssl
    # Logs to the container's stdout/stderr (what `kubectl logs` shows), as the official image.
    ln -sf /dev/stdout "$r/var/log/nginx/access.log"
    ln -sf /dev/stderr "$r/var/log/nginx/error.log"
    openssl req -x509 -nodes -newkey rsa:2048 -days 3650 -subj "/CN=nginx" \
        -keyout "$r/etc/nginx/ssl/nginx.key" -out "$r/etc/nginx/ssl/nginx.crt" 2>/dev/null
    rm -f "$r"/etc/nginx/sites-enabled/* "$r"/etc/nginx/modules-enabled/*
    cat > "$r/etc/nginx/nginx.conf" <<'N'
user www-data;
worker_processes 1;
pid /run/nginx.pid;
error_log /var/log/nginx/error.log;
events { worker_connections 512; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    access_log /var/log/nginx/access.log;
    server {
        listen 80 default_server;
        listen 443 ssl default_server;
        server_name _;
        ssl_certificate /etc/nginx/ssl/nginx.crt;
        ssl_certificate_key /etc/nginx/ssl/nginx.key;
        root /usr/share/nginx/html;
        index index.html;
    }
}
N
    grep -q "Welcome to nginx!" "$r/usr/share/nginx/html/index.html"
    ldconfig -r "$r" 2>/dev/null || true
    # Every library resolved: nginx checks its configuration inside the rootfs.
    chroot "$r" /usr/sbin/nginx -t -q || { log "nginx -t failed inside the rootfs"; return 1; }
    rootfs_tar "$r" nginx
}

declare -A IMAGE=([nginx]=nginx:latest [busybox]=busybox:latest [pause]=minikube8s/pause:latest)
declare -A CHANGES=(
    [nginx]='CMD ["nginx", "-g", "daemon off;"]|EXPOSE 80 443|WORKDIR /'
    [busybox]='CMD ["sh"]|ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    [pause]='ENTRYPOINT ["/pause"]'
)

names=("$@")
[ ${#names[@]} -eq 0 ] && names=(pause busybox nginx)
for name in "${names[@]}"; do
    [ -n "${IMAGE[$name]:-}" ] || { log "unknown image $name (nginx, busybox, pause)"; exit 2; }
    if [ -z "$NO_IMPORT" ] && [ -z "$FORCE" ] \
            && "$DOCKER" image inspect "${IMAGE[$name]}" >/dev/null 2>&1; then
        continue
    fi
    if [ -n "$FORCE" ] || [ ! -s "$CACHE_DIR/$name.tar" ]; then
        log "building $name rootfs"
        work=$(mktemp -d)
        trap 'rm -rf "$work"' EXIT
        "build_$name" "$work"
        rm -rf "$work"
        trap - EXIT
    fi
    [ -n "$NO_IMPORT" ] && continue
    args=()
    IFS='|' read -ra changes <<< "${CHANGES[$name]}"
    for c in "${changes[@]}"; do args+=(--change "$c"); done
    "$DOCKER" import "${args[@]}" "$CACHE_DIR/$name.tar" "${IMAGE[$name]}" >/dev/null
    log "imported ${IMAGE[$name]}"
done

#!/bin/sh
# tests/tools/mkcerts.sh — a throwaway PKI for the TLS tests.
#
#   tests/tools/mkcerts.sh DIR
#
# Writes into DIR (which must exist and should be fresh, e.g. from mktemp -d):
#   root.crt                  trust anchor (EC P-256, self-signed)
#   inter.crt                 intermediate CA signed by root; it signs every leaf
#   a-ecdsa.crt / .key        leaf "a.test", EC P-256; the .crt holds leaf + intermediate
#   a-rsa.crt / .key          leaf "a.test", RSA-2048; leaf + intermediate
#   b-wild.crt / .key         leaf "*.b.test", EC P-256; leaf + intermediate
#   ip-local.crt / .key       leaf "ip.test" and IP address 127.0.0.1, EC P-256; leaf + intermediate
#                             (a backend verified by its address, with no name configured)
#   a-ecdsa.ocsp              DER OCSP response ("good") for the a-ecdsa leaf, signed by inter
#   expired.crt / .key        leaf "expired.test", valid 2020-01-01..2020-01-02
#   notyet.crt / .key         leaf "notyet.test", valid from 2090
#   mismatch.crt / .key       the a-ecdsa certificate with an unrelated key
#   clientca.crt              CA for client certificates (mTLS)
#   client.crt / .key         client certificate "client.test" (clientAuth) from clientca
#   rogue.crt / .key          self-signed client certificate no listener trusts
# Every file is created under umask 077, so keys are mode 0600. Scratch files
# (CA databases, CSRs) stay in DIR/scratch. Nothing here is ever committed:
# the tests create DIR at run time and remove it at the end.
set -eu

[ $# -eq 1 ] && [ -d "$1" ] || { echo "usage: $0 DIR (an existing directory)" >&2; exit 2; }
D=$1
S=$D/scratch
umask 077
mkdir -p "$S"
LOG=$S/openssl.log
: >"$LOG"

run() {
	if ! "$@" >>"$LOG" 2>&1; then
		echo "mkcerts: failed: $*" >&2
		cat "$LOG" >&2
		exit 1
	fi
}

eckey() { run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
rsakey() { run openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1"; }

# A CA directory for `openssl ca`, which alone (in OpenSSL 3.0) can set
# arbitrary validity dates and keeps the index an OCSP responder needs.
mkca() { # name
	mkdir -p "$S/$1"
	: >"$S/$1/index.txt"
	echo 1000 >"$S/$1/serial"
	cat >"$S/$1/ca.cnf" <<EOF
[ ca ]
default_ca = this
[ this ]
dir = $S/$1
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
default_days = 30
[ anything ]
commonName = supplied
[ v3_ca ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
}

# sign CA NAME CN EXTS [ca-args...]: CSR for $D/NAME.key, cert to $S/NAME.leaf
sign() {
	ca=$1 name=$2 cn=$3 exts=$4
	shift 4
	run openssl req -new -key "$D/$name.key" -subj "/CN=$cn" -out "$S/$name.csr"
	printf '%s\n' "$exts" >"$S/$name.ext"
	run openssl ca -batch -notext -config "$S/$ca/ca.cnf" -cert "$D/$ca.crt" \
	    -keyfile "$S/$ca.key" -extfile "$S/$name.ext" -in "$S/$name.csr" \
	    -out "$S/$name.leaf" "$@"
}

SERVER_EXT='basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth'
CLIENT_EXT='basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth'

# Root and intermediate.
eckey "$S/root.key"
run openssl req -x509 -new -key "$S/root.key" -subj "/CN=tandem test root" -days 30 \
    -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$D/root.crt"
mkca root
eckey "$S/inter.key"
run openssl req -new -key "$S/inter.key" -subj "/CN=tandem test intermediate" -out "$S/inter.csr"
run openssl ca -batch -notext -config "$S/root/ca.cnf" -cert "$D/root.crt" -keyfile "$S/root.key" \
    -extensions v3_ca -in "$S/inter.csr" -out "$D/inter.crt"
mkca inter

# Leaves; each server .crt is the chain the server sends: leaf, then intermediate.
leaf() { # name keytype cn san [ca-args...]
	name=$1 kt=$2 cn=$3 san=$4
	shift 4
	if [ "$kt" = rsa ]; then rsakey "$D/$name.key"; else eckey "$D/$name.key"; fi
	sign inter "$name" "$cn" "$SERVER_EXT
subjectAltName = $san" "$@"
	cat "$S/$name.leaf" "$D/inter.crt" >"$D/$name.crt"
}
leaf a-ecdsa ec a.test DNS:a.test
leaf a-rsa rsa a.test DNS:a.test
leaf b-wild ec '*.b.test' 'DNS:*.b.test'
leaf ip-local ec ip.test 'DNS:ip.test, IP:127.0.0.1'
leaf expired ec expired.test DNS:expired.test -startdate 20200101000000Z -enddate 20200102000000Z
leaf notyet ec notyet.test DNS:notyet.test -startdate 20900101000000Z -enddate 20900102000000Z

# A certificate with somebody else's key.
cp "$D/a-ecdsa.crt" "$D/mismatch.crt"
eckey "$D/mismatch.key"

# OCSP response for the a-ecdsa leaf, as a responder would hand it out.
run openssl ocsp -issuer "$D/inter.crt" -cert "$S/a-ecdsa.leaf" -no_nonce -reqout "$S/a-ecdsa.ocspreq"
run openssl ocsp -index "$S/inter/index.txt" -rsigner "$D/inter.crt" -rkey "$S/inter.key" \
    -CA "$D/inter.crt" -reqin "$S/a-ecdsa.ocspreq" -respout "$D/a-ecdsa.ocsp" -ndays 1

# Client certificates for mTLS.
eckey "$S/clientca.key"
run openssl req -x509 -new -key "$S/clientca.key" -subj "/CN=tandem test client CA" -days 30 \
    -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$D/clientca.crt"
mkca clientca
eckey "$D/client.key"
sign clientca client client.test "$CLIENT_EXT"
cp "$S/client.leaf" "$D/client.crt"
eckey "$D/rogue.key"
run openssl req -x509 -new -key "$D/rogue.key" -subj "/CN=rogue.test" -days 30 -out "$D/rogue.crt"

# CA private keys are not needed after this; leave none lying around.
rm -f "$S"/*.key

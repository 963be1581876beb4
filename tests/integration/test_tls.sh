#!/usr/bin/env bash
# tests/run: parallel-safe
# tests/integration/test_tls.sh — proxyd's TLS termination end to end.
#
# Real processes on loopback (127.0.0.1:24000-24999): a tests/tools/backend
# origin behind proxyd processes built from configs written below, with a
# throwaway PKI from tests/tools/mkcerts.sh in a mktemp directory. Real
# clients only: openssl s_client, curl, wrk. Cases: bad certificates refused
# by `proxyd -t` with file:line; SNI picks the certificate (exact, wildcard,
# default); ECDSA and RSA on one name; TLS 1.0/1.1 and weak 1.2 suites
# refused; ALPN; OCSP stapling; X-Forwarded-Proto and HSTS; the HTTP->HTTPS
# redirect; 300 pipelined requests in one write; session resumption (TLS 1.3 and 1.2) on the same process, after
# a ticket-key rotation, and NOT on a second process that shares nothing
# (cross-node resumption, with the keys hacd distributes, is test_cluster's);
# a scan with sslscan finds no protocol below TLS 1.2, no cipher without
# forward secrecy or AEAD, and no renegotiation;
# mTLS accepted with the client certificate and refused without or with a
# rogue one; a session from the plain listener offered to the mTLS one
# without a certificate: not resumed, refused, no request through (and a
# session made with the certificate resumes there); TLS to a backend
# (verified chain and SNI, a wrong name -> 502, no sni: the certificate
# must be for the server's address, verify = false, 2 MB each way, keep-alive under wrk); certificate reload under load (wrk, keep-alive and a new
# handshake per request) with zero errors and the new certificate served
# after; a bad certificate at reload logged with file:line while the old one
# keeps serving; quick mode --tls-listen; the TLS metrics.
#
# Every wait is bounded, the whole file runs under timeout(1) (< 3 min), and
# an EXIT trap stops every process it started, by PID.
#
# Run from the repository root: bash tests/integration/test_tls.sh
# (BUILD=dir for binaries built elsewhere). One line per case, then
# "N passed, N failed"; exit status 1 on failure. KEEP_LOGS=1 keeps the
# directory of a failed run in /tmp/tandem-tls-logs.

set -u

if [[ -z ${T_TLS_BOUNDED:-} ]]; then
	export T_TLS_BOUNDED=1
	exec timeout -k 10 170 bash "$0" "$@"
fi

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
BUILD=${BUILD:-build}
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "test_tls: no build directory" >&2; exit 1; }
PROXYD=$BUILD/proxyd
BACKEND=$BUILD/tests/tools/backend
for b in "$PROXYD" "$BACKEND"; do
	[[ -x $b ]] || { echo "test_tls: $b missing (make all first)" >&2; exit 1; }
done
for t in curl openssl sslscan wrk ss timeout python3; do
	command -v "$t" >/dev/null || { echo "test_tls: $t not installed" >&2; exit 1; }
done

H=127.0.0.1
P_B=24001                                   # the origin
P_HTTP=24080 P_TLS=24443 P_MTLS=24444 P_ADM=24901   # proxy A (config file)
P_IPTLS=24445                               # proxy A: a certificate for the address 127.0.0.1
P_TLS2=24543 P_ADM2=24902                   # proxy B: same config, its own process
P_TLS3=24643                                # proxy C: ticket keys rotating every 2 s
P_QHTTP=24780 P_QTLS=24743                  # quick mode
P_UP=24190 P_ADM4=24904                     # proxy D: plain in front, TLS to proxy A

# SO_REUSEPORT would let a leftover process share a port with ours silently.
for p in $P_B $P_HTTP $P_TLS $P_MTLS $P_IPTLS $P_ADM $P_TLS2 $P_ADM2 $P_TLS3 24903 $P_QHTTP $P_QTLS $P_UP $P_ADM4; do
	if ss -Htln "sport = :$p" | grep -q .; then
		echo "test_tls: $H:$p is taken (another run?)" >&2
		echo "not ok - setup (port $p taken)"
		echo "0 passed, 1 failed"
		exit 1
	fi
done

T_NAME=tls
# shellcheck source=loopback.sh
. "$(dirname "$0")/loopback.sh"
stop_pid() {  # PID: TERM, then KILL after 2 s
	local p=$1
	kill -TERM "$p" 2>/dev/null
	for _ in $(seq 1 40); do
		kill -0 "$p" 2>/dev/null || { wait "$p" 2>/dev/null; return 0; }
		sleep 0.05
	done
	kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
}

metric() {  # ADMIN_PORT NAME{labels}: its value, or empty
	curl -s --max-time 3 "http://$H:$1/metrics" | awk -v n="$2" '$1 == n { print $2 }'
}

# ---- PKI and configuration --------------------------------------------------

PKI=$T/pki PKI2=$T/pki2
mkdir -p "$PKI" "$PKI2"
sh tests/tools/mkcerts.sh "$PKI" >/dev/null || { echo "test_tls: mkcerts failed" >&2; exit 1; }
# A second, unrelated PKI: "the new certificate" of the reload cases.
sh tests/tools/mkcerts.sh "$PKI2" >/dev/null || { echo "test_tls: mkcerts failed" >&2; exit 1; }
# Started as root, proxyd reads certificates again at reload as its
# unprivileged user (default "tandem-proxyd"): that user must own the key files.
if [[ $(id -u) -eq 0 ]]; then
	chown -R tandem-proxyd "$PKI" "$PKI2"
	chmod 755 "$PKI" "$PKI2"
fi

# write_conf FILE TLS_PORT ADMIN_PORT A_CERT_DIR [ROTATE]: proxy A's
# configuration (proxy B uses it with other ports).
write_conf() {
	local f=$1 ptls=$2 padm=$3 adir=$4 rot=${5:-1h}
	cat >"$f" <<EOF
log = { level = "info"; access = "off"; };
admin = { listen = "$H:$padm"; socket = "$T/$(basename "$f").sock"; };
hacd = { channel = "$T/no-hacd.chan"; };
tls_tickets = { rotate = "$rot"; lifetime = "3h"; };
listeners = (
  { name = "https"; listen = "$H:$ptls";
    tls = {
      certificates = (
        { cert = "$adir/a-ecdsa.crt"; key = "$adir/a-ecdsa.key"; ocsp = "$adir/a-ecdsa.ocsp"; },
        { cert = "$PKI/a-rsa.crt"; key = "$PKI/a-rsa.key"; },
        { cert = "$PKI/b-wild.crt"; key = "$PKI/b-wild.key"; }
      );
      alpn = "http/1.1";
      session_timeout = "2h";
      hsts = "max-age=31536000; includeSubDomains";
    }; }
EOF
	if [[ $ptls == "$P_TLS" ]]; then
		cat >>"$f" <<EOF
  , { name = "http"; listen = "$H:$P_HTTP"; redirect_https = true; redirect_https_port = $P_TLS; }
  , { name = "mtls"; listen = "$H:$P_MTLS";
      tls = { certificates = ( { cert = "$PKI/a-ecdsa.crt"; key = "$PKI/a-ecdsa.key"; } );
              client_ca = "$PKI/clientca.crt"; client_cert = "required"; }; }
  , { name = "byaddr"; listen = "$H:$P_IPTLS";
      tls = { certificates = ( { cert = "$PKI/ip-local.crt"; key = "$PKI/ip-local.key"; } ); }; }
EOF
	fi
	cat >>"$f" <<EOF
);
upstreams = ( { name = "app"; servers = ( { name = "b1"; address = "$H:$P_B"; } ); } );
routes = ( { name = "default"; upstream = "app"; } );
EOF
	chmod 644 "$f"
}

CONF=$T/a.conf
write_conf "$CONF" $P_TLS $P_ADM "$PKI"

spawn "$T/backend.log" "$BACKEND" --listen "$H:$P_B" --name b1
wait_for 5 listening $P_B || { echo "test_tls: backend did not start" >&2; exit 1; }
spawn "$T/a.log" "$PROXYD" -R "$T" -c "$CONF"
PID_A=$SPAWNED
wait_for 5 listening $P_TLS || { echo "test_tls: proxyd did not start" >&2; cat "$T/a.log" >&2; exit 1; }
wait_for 5 listening $P_ADM

# ---- helpers for TLS clients ------------------------------------------------

# sclient PORT ARGS...: one openssl s_client handshake (stdin closed);
# its output on stdout.
sclient() {
	local port=$1
	shift
	timeout 10 openssl s_client -connect "$H:$port" "$@" </dev/null 2>&1
}

# request PORT SNI ARGS...: s_client sends one request and reads the
# answer (a TLS 1.3 ticket arrives after the handshake: the exchange gives
# s_client the time to store it with -sess_out).
request() {
	local port=$1 sni=$2
	shift 2
	{ printf 'GET /echo HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$sni"; sleep 1; } |
		timeout 10 openssl s_client -connect "$H:$port" -servername "$sni" -CAfile "$PKI/root.crt" "$@" 2>&1
}

subject_of() {  # PORT SNI: the served leaf's subject, one line
	sclient "$1" -servername "$2" | openssl x509 -noout -subject -nameopt RFC2253 2>/dev/null
}

fingerprint_of() {  # PORT: SHA-256 fingerprint of the served leaf for a.test
	sclient "$1" -servername a.test | openssl x509 -noout -fingerprint -sha256 2>/dev/null | sed 's/.*=//'
}

file_fingerprint() { openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/.*=//'; }

# ---- cases ------------------------------------------------------------------

# bad_conf SED_SCRIPT: proxy A's configuration edited by SED_SCRIPT, checked
# with `proxyd -t`; its output in $BAD_OUT, the line of "tls = {" in $BAD_LINE.
BAD=$T/bad.conf
bad_conf() {
	write_conf "$BAD" $P_TLS $P_ADM "$PKI"
	sed -i "$1" "$BAD"
	BAD_LINE=$(grep -n 'tls = {' "$BAD" | head -1 | cut -d: -f1)
	BAD_OUT=$("$PROXYD" -t -c "$BAD" 2>&1)
}

case_bad_certs_refused() {
	local spec sedx want
	cp "$PKI/a-ecdsa.key" "$T/loose.key"
	chmod 644 "$T/loose.key"
	# (sed script) -> (words in the message); the line is that of "tls = {".
	for spec in \
	    "s|$PKI/a-ecdsa.key|$PKI/mismatch.key|@does not match" \
	    "s|$PKI/a-ecdsa.crt|$PKI/expired.crt|; s|$PKI/a-ecdsa.key|$PKI/expired.key|; s|ocsp = \"[^\"]*\";||@expired" \
	    "s|$PKI/a-ecdsa.crt|$PKI/notyet.crt|; s|$PKI/a-ecdsa.key|$PKI/notyet.key|; s|ocsp = \"[^\"]*\";||@notyet.crt" \
	    "s|$PKI/a-ecdsa.key|$T/loose.key|@loose.key" \
	    "s|$PKI/a-ecdsa.ocsp|$PKI/a-rsa.crt|@OCSP"; do
		sedx=${spec%@*}
		want=${spec##*@}
		if bad_conf "$sedx"; then
			t_fail "accepted by proxyd -t: $sedx"
			return 1
		fi
		[[ $BAD_OUT == *"$BAD:$BAD_LINE: "*"$want"* ]] ||
			{ t_fail "got \"$BAD_OUT\", want $BAD:$BAD_LINE: ... $want"; return 1; }
	done
	BAD_OUT=$("$PROXYD" -t -c "$CONF" 2>&1) || { t_fail "the good file refused: $BAD_OUT"; return 1; }
	return 0
}

case_sni() {
	local s
	s=$(subject_of $P_TLS a.test)
	[[ $s == *"CN=a.test"* ]] || { t_fail "a.test -> \"$s\""; return 1; }
	s=$(subject_of $P_TLS x.b.test)
	[[ $s == *"CN=*.b.test"* ]] || { t_fail "x.b.test -> \"$s\""; return 1; }
	s=$(subject_of $P_TLS unknown.test)
	[[ $s == *"CN=a.test"* ]] || { t_fail "unknown.test (default) -> \"$s\""; return 1; }
	# curl verifies the chain and the name against the test root.
	s=$(curl -sS --max-time 5 --resolve "a.test:$P_TLS:$H" --cacert "$PKI/root.crt" \
	    -o /dev/null -w '%{http_code}' "https://a.test:$P_TLS/echo" 2>&1)
	[[ $s == 200 ]] || { t_fail "curl a.test: $s"; return 1; }
	s=$(curl -sS --max-time 5 --resolve "www.b.test:$P_TLS:$H" --cacert "$PKI/root.crt" \
	    -o /dev/null -w '%{http_code}' "https://www.b.test:$P_TLS/echo" 2>&1)
	[[ $s == 200 ]] || { t_fail "curl www.b.test: $s"; return 1; }
	# And a name no certificate covers fails verification in curl.
	s=$(curl -sS --max-time 5 --resolve "c.test:$P_TLS:$H" --cacert "$PKI/root.crt" \
	    -o /dev/null -w '%{http_code}' "https://c.test:$P_TLS/echo" 2>&1)
	[[ $s != 200 ]] || { t_fail "curl c.test verified a certificate it should not"; return 1; }
	return 0
}

case_ecdsa_rsa() {
	local out
	out=$(sclient $P_TLS -servername a.test -tls1_2 -sigalgs 'RSA-PSS+SHA256:RSA+SHA256')
	[[ $out == *"Server public key is 2048 bit"* ]] || { t_fail "RSA-only client did not get the RSA key"; return 1; }
	out=$(sclient $P_TLS -servername a.test -tls1_2 -sigalgs 'ECDSA+SHA256')
	[[ $out == *"Server public key is 256 bit"* ]] || { t_fail "ECDSA client did not get the P-256 key"; return 1; }
	return 0
}

case_old_protocols() {
	local before after out v note=
	before=$(metric $P_ADM 'tandem_tls_handshake_failures_total{reason="version"}')
	for v in -tls1 -tls1_1; do
		# SECLEVEL=0 so the local OpenSSL offers the old protocol at all.
		out=$(sclient $P_TLS -servername a.test $v -cipher 'DEFAULT:@SECLEVEL=0')
		if [[ $out == *"Cipher is"* && $out != *"Cipher is (NONE)"* ]]; then
			t_fail "$v negotiated: $(grep -m1 'Cipher is' <<<"$out")"
			return 1
		fi
		[[ $out == *"no protocols available"* ]] && note="$note $v(local refusal)"
	done
	after=$(metric $P_ADM 'tandem_tls_handshake_failures_total{reason="version"}')
	if [[ -z $note ]] && ((after < before + 2)); then
		t_fail "the server did not count 2 version refusals ($before -> $after)"
		return 1
	fi
	[[ -n $note ]] && echo "# note:$note: the local OpenSSL would not offer it" >&2
	# TLS 1.2 without ECDHE (static RSA key exchange) is refused too.
	out=$(sclient $P_TLS -servername a.test -tls1_2 -cipher 'AES128-SHA')
	[[ $out == *"Cipher is (NONE)"* || $out != *"Cipher is"* ]] || { t_fail "AES128-SHA negotiated"; return 1; }
	out=$(sclient $P_TLS -servername a.test -tls1_2)
	[[ $out == *"Protocol  : TLSv1.2"* ]] || { t_fail "TLS 1.2 refused"; return 1; }
	out=$(sclient $P_TLS -servername a.test -tls1_3)
	[[ $out == *"New, TLSv1.3"* ]] || { t_fail "TLS 1.3 refused"; return 1; }
	return 0
}

# The Mozilla "intermediate" profile, as a scanner sees it: TLS 1.2 and 1.3
# only; TLS 1.2 ciphers all ECDHE with AES-GCM or ChaCha20-Poly1305 (forward
# secrecy, AEAD); nothing under 128 bits; no renegotiation.
case_sslscan() {
	local out bad
	out=$(timeout 60 sslscan --no-colour --sni-name=a.test "$H:$P_TLS" 2>&1)
	for v in SSLv2 SSLv3 TLSv1.0 TLSv1.1; do
		grep -Eq "^$v +disabled" <<<"$out" || { t_fail "$v not reported disabled"; return 1; }
	done
	for v in TLSv1.2 TLSv1.3; do
		grep -Eq "^$v +enabled" <<<"$out" || { t_fail "$v not reported enabled"; return 1; }
	done
	grep -Eq '^(Preferred|Accepted) +TLSv1.2 ' <<<"$out" || { t_fail "no TLS 1.2 cipher listed: scan failed?"; return 1; }
	bad=$(grep -E '^(Preferred|Accepted) ' <<<"$out" | awk '
		$2 == "TLSv1.3" && $5 ~ /^TLS_(AES_(128|256)_GCM|CHACHA20_POLY1305)_SHA(256|384)$/ && $3 >= 128 { next }
		$2 == "TLSv1.2" && $5 ~ /^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/ && $3 >= 128 { next }
		{ print }')
	[[ -z $bad ]] || { t_fail "weak or unexpected ciphers: $(tr '\n' ';' <<<"$bad")"; return 1; }
	grep -q 'Session renegotiation not supported' <<<"$out" || { t_fail "renegotiation not reported off"; return 1; }
}

case_alpn_ocsp() {
	local out
	out=$(sclient $P_TLS -servername a.test -alpn h2,http/1.1)
	[[ $out == *"ALPN protocol: http/1.1"* ]] || { t_fail "ALPN h2,http/1.1 did not pick http/1.1"; return 1; }
	out=$(sclient $P_TLS -servername a.test -alpn h2)
	[[ $out != *"ALPN protocol: h2"* ]] || { t_fail "h2 selected"; return 1; }
	out=$(sclient $P_TLS -servername a.test -status)
	[[ $out == *"OCSP Response Status: successful"* ]] || { t_fail "no OCSP staple"; return 1; }
	return 0
}

case_headers_hsts() {
	local out
	out=$(curl -sS -i --max-time 5 --resolve "a.test:$P_TLS:$H" --cacert "$PKI/root.crt" "https://a.test:$P_TLS/echo")
	[[ $out == *"X-Forwarded-Proto: https"* ]] || { t_fail "backend did not see X-Forwarded-Proto: https"; return 1; }
	grep -qi '^Strict-Transport-Security: max-age=31536000; includeSubDomains' <<<"$out" ||
		{ t_fail "no HSTS header"; return 1; }
	# Plain HTTP never carries HSTS (RFC 6797 §7.2) and redirects.
	out=$(curl -sS -i --max-time 5 -H "Host: a.test:$P_HTTP" "http://$H:$P_HTTP/some/path?x=1")
	[[ $out == "HTTP/1.1 301"* ]] || { t_fail "redirect: $(head -1 <<<"$out")"; return 1; }
	grep -q "^Location: https://a.test:$P_TLS/some/path?x=1" <<<"$out" || { t_fail "Location: $(grep -i '^Location' <<<"$out")"; return 1; }
	! grep -qi '^Strict-Transport-Security' <<<"$out" || { t_fail "HSTS over plain HTTP"; return 1; }
	# Followed, the redirect lands on the TLS listener.
	out=$(curl -sS -L --max-time 5 --resolve "a.test:$P_TLS:$H" --resolve "a.test:$P_HTTP:$H" \
	    --cacert "$PKI/root.crt" -o /dev/null -w '%{http_code} %{scheme}' "http://a.test:$P_HTTP/echo")
	[[ $out == "200 HTTPS" || $out == "200 https" ]] || { t_fail "redirect followed: $out"; return 1; }
	return 0
}

# resume PORT_OUT PORT_IN PROTO: "Reused" or "New" on the second connection.
resume() {
	local out
	rm -f "$T/sess.pem"
	out=$(request "$1" a.test "-$3" -sess_out "$T/sess.pem")
	[[ $out == *"HTTP/1.1 200"* && -s $T/sess.pem ]] || { echo "no-session"; return; }
	out=$(request "$2" a.test "-$3" -sess_in "$T/sess.pem")
	[[ $out == *"HTTP/1.1 200"* ]] || { echo "no-answer"; return; }
	grep -m1 -oE '^(New|Reused)' <<<"$out"
}

case_pipelining() {
	local out
	# 300 pipelined requests in one write (about 45 KiB: more than a
	# record and more than a read buffer), so plaintext waits inside
	# OpenSSL with the socket empty and must still be served.
	out=$(timeout 20 python3 - "$H" "$P_TLS" <<'PY'
import socket, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection((sys.argv[1], int(sys.argv[2]))), server_hostname="a.test")
n = 300
one = b"GET /echo HTTP/1.1\r\nHost: a.test\r\nX-Pad: " + b"p" * 100 + b"\r\n\r\n"
s.sendall(one * n + b"GET /echo HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
data = b""
s.settimeout(10)
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
print(data.count(b"HTTP/1.1 200 OK\r\n"))
PY
)
	[[ $out == 301 ]] || { t_fail "$out responses, want 301"; return 1; }
	return 0
}

case_resume_same_process() {
	local v r
	for v in tls1_3 tls1_2; do
		r=$(resume $P_TLS $P_TLS $v)
		[[ $r == Reused ]] || { t_fail "$v: second connection $r"; return 1; }
	done
	return 0
}

case_resume_other_process() {
	local v r
	# Proxy B: the same configuration and certificates, its own process and
	# so its own ticket keys. Sharing them is hacd's job.
	write_conf "$T/b.conf" $P_TLS2 $P_ADM2 "$PKI"
	spawn "$T/b.log" "$PROXYD" -R "$T" -c "$T/b.conf"
	PID_B=$SPAWNED
	wait_for 5 listening $P_TLS2 || { t_fail "proxy B did not start"; return 1; }
	for v in tls1_3 tls1_2; do
		r=$(resume $P_TLS $P_TLS2 $v)
		[[ $r == New ]] || { t_fail "$v: A's ticket on B gave $r (want a full handshake)"; return 1; }
	done
	stop_pid "$PID_B"
	return 0
}

case_resume_after_restart() {
	local v r
	# Take tickets from A, restart A, offer them again: the keys died with
	# the process (they are never written to disk), so a full handshake.
	for v in tls1_3 tls1_2; do
		rm -f "$T/sess-$v.pem"
		r=$(request $P_TLS a.test "-$v" -sess_out "$T/sess-$v.pem")
		[[ -s $T/sess-$v.pem ]] || { t_fail "$v: no session stored"; return 1; }
	done
	stop_pid "$PID_A"
	spawn "$T/a2.log" "$PROXYD" -R "$T" -c "$CONF"
	PID_A=$SPAWNED
	wait_for 5 listening $P_TLS || { t_fail "proxy A did not restart"; return 1; }
	wait_for 5 listening $P_ADM
	for v in tls1_3 tls1_2; do
		r=$(request $P_TLS a.test "-$v" -sess_in "$T/sess-$v.pem" | grep -m1 -oE '^(New|Reused)')
		[[ $r == New ]] || { t_fail "$v after restart: $r"; return 1; }
	done
	return 0
}

case_resume_after_rotation() {
	local v r
	write_conf "$T/c.conf" $P_TLS3 24903 "$PKI" 2s
	spawn "$T/c.log" "$PROXYD" -R "$T" -c "$T/c.conf"
	local pid=$SPAWNED
	wait_for 5 listening $P_TLS3 || { t_fail "proxy C did not start"; return 1; }
	for v in tls1_3 tls1_2; do
		rm -f "$T/rot-$v.pem"
		request $P_TLS3 a.test "-$v" -sess_out "$T/rot-$v.pem" >/dev/null
		[[ -s $T/rot-$v.pem ]] || { t_fail "$v: no session stored"; return 1; }
	done
	# Wait for a rotation (every 2 s), then the old tickets still resume.
	wait_for 6 grep -q 'rotated in (2 held)' "$T/c.log" || { t_fail "no rotation logged"; return 1; }
	for v in tls1_3 tls1_2; do
		r=$(request $P_TLS3 a.test "-$v" -sess_in "$T/rot-$v.pem" | grep -m1 -oE '^(New|Reused)')
		[[ $r == Reused ]] || { t_fail "$v after a rotation: $r"; return 1; }
	done
	stop_pid "$pid"
	return 0
}

case_mtls() {
	local s before after
	before=$(metric $P_ADM 'tandem_tls_handshake_failures_total{reason="client_cert"}')
	s=$(curl -sS --max-time 5 --resolve "a.test:$P_MTLS:$H" --cacert "$PKI/root.crt" \
	    --cert "$PKI/client.crt" --key "$PKI/client.key" -o /dev/null -w '%{http_code}' "https://a.test:$P_MTLS/echo" 2>&1)
	[[ $s == 200 ]] || { t_fail "with the client certificate: $s"; return 1; }
	s=$(curl -sS --max-time 5 --resolve "a.test:$P_MTLS:$H" --cacert "$PKI/root.crt" \
	    -o /dev/null -w '%{http_code}' "https://a.test:$P_MTLS/echo" 2>/dev/null)
	[[ $s != 200 ]] || { t_fail "without a client certificate: 200"; return 1; }
	s=$(curl -sS --max-time 5 --resolve "a.test:$P_MTLS:$H" --cacert "$PKI/root.crt" \
	    --cert "$PKI/rogue.crt" --key "$PKI/rogue.key" -o /dev/null -w '%{http_code}' "https://a.test:$P_MTLS/echo" 2>/dev/null)
	[[ $s != 200 ]] || { t_fail "with a rogue certificate: 200"; return 1; }
	after=$(metric $P_ADM 'tandem_tls_handshake_failures_total{reason="client_cert"}')
	((after >= before + 2)) || { t_fail "client_cert failures $before -> $after"; return 1; }
	return 0
}

requests_sum() {  # ADMIN_PORT: requests answered, summed over routes, upstreams and classes
	curl -s --max-time 3 "http://$H:$1/metrics" | awk '$1 ~ /^tandem_requests_total[{]/ { n += $2 } END { print n + 0 }'
}

# The attack: a session (ticket) from the plain listener, offered without a
# client certificate to the listener that requires one. Same process, same
# ticket keys, same server certificate. It must not resume (the session is
# bound to its listener and its client-certificate policy), the full
# handshake is refused for want of a certificate, and no request reaches
# the backend. Then the good case: a session made WITH the certificate on
# the mTLS listener resumes there, and the request goes through.
case_mtls_resumption() {
	local v out before after fb fa
	for v in tls1_3 tls1_2; do
		rm -f "$T/plain-$v.pem" "$T/mtls-$v.pem"
		out=$(request $P_TLS a.test "-$v" -sess_out "$T/plain-$v.pem")
		[[ $out == *"HTTP/1.1 200"* && -s $T/plain-$v.pem ]] || { t_fail "$v: no session from the plain listener"; return 1; }
		before=$(requests_sum $P_ADM)
		fb=$(metric $P_ADM 'tandem_tls_handshake_failures_total{reason="client_cert"}')
		out=$(request $P_MTLS a.test "-$v" -sess_in "$T/plain-$v.pem")
		after=$(requests_sum $P_ADM)
		fa=$(metric $P_ADM 'tandem_tls_handshake_failures_total{reason="client_cert"}')
		[[ $out != *Reused* ]] || { t_fail "$v: the plain listener's session resumed on the mTLS listener"; return 1; }
		[[ $out != *"HTTP/1.1 "* ]] || { t_fail "$v: answered without a client certificate: $(grep -m1 'HTTP/1.1 ' <<<"$out")"; return 1; }
		((after == before)) || { t_fail "$v: requests answered $before -> $after"; return 1; }
		((fa >= fb + 1)) || { t_fail "$v: client_cert failures $fb -> $fa"; return 1; }
		out=$(request $P_MTLS a.test "-$v" -cert "$PKI/client.crt" -key "$PKI/client.key" -sess_out "$T/mtls-$v.pem")
		[[ $out == *"HTTP/1.1 200"* && -s $T/mtls-$v.pem ]] || { t_fail "$v: no session with the client certificate"; return 1; }
		out=$(request $P_MTLS a.test "-$v" -sess_in "$T/mtls-$v.pem")
		[[ $out == *Reused* && $out == *"HTTP/1.1 200"* ]] ||
			{ t_fail "$v: a session made with the certificate did not resume on its listener"; return 1; }
	done
	return 0
}

wrk_errors() {  # WRK_OUTPUT_FILE: "" when clean, else what went wrong
	local f=$1 n
	grep -q 'requests in' "$f" || { echo "wrk did not finish"; return; }
	n=$(awk '/requests in/ { print $1 }' "$f")
	((n > 0)) || { echo "no request completed"; return; }
	grep -E 'Socket errors|Non-2xx' "$f" | tr '\n' ' '
}

case_reload_under_load() {
	local old new got e1 e2 n1 n2
	old=$(file_fingerprint "$PKI/a-ecdsa.crt")
	new=$(file_fingerprint "$PKI2/a-ecdsa.crt")
	got=$(fingerprint_of $P_TLS)
	[[ $got == "$old" ]] || { t_fail "before: served $got, want $old"; return 1; }
	# Keep-alive connections (they live across the reload) and a new
	# handshake per request (they straddle it), for 5 s; the reload to a
	# new certificate comes in the middle.
	timeout 20 wrk -t1 -c10 -d5s "https://$H:$P_TLS/echo" >"$T/wrk-ka.out" 2>&1 &
	local w1=$!
	timeout 20 wrk -t1 -c4 -d5s -H 'Connection: close' "https://$H:$P_TLS/echo" >"$T/wrk-close.out" 2>&1 &
	local w2=$!
	sleep 2
	write_conf "$CONF" $P_TLS $P_ADM "$PKI2"
	kill -HUP "$PID_A"
	wait_for 5 grep -q 'reloaded .*generation 2' "$T/a2.log" || { t_fail "reload not logged"; wait $w1 $w2; return 1; }
	wait $w1 $w2
	e1=$(wrk_errors "$T/wrk-ka.out")
	e2=$(wrk_errors "$T/wrk-close.out")
	n1=$(awk '/requests in/ { print $1 }' "$T/wrk-ka.out")
	n2=$(awk '/requests in/ { print $1 }' "$T/wrk-close.out")
	echo "# reload under load: keep-alive $n1 requests, new handshake each $n2 requests" >&2
	[[ -z $e1 ]] || { t_fail "keep-alive wrk: $e1"; return 1; }
	[[ -z $e2 ]] || { t_fail "Connection: close wrk: $e2"; return 1; }
	got=$(fingerprint_of $P_TLS)
	[[ $got == "$new" ]] || { t_fail "after: served $got, want the new $new"; return 1; }
	return 0
}

case_bad_reload_keeps_serving() {
	local want line s
	want=$(file_fingerprint "$PKI2/a-ecdsa.crt")
	write_conf "$CONF" $P_TLS $P_ADM "$PKI2"
	sed -i "s|$PKI2/a-ecdsa.key|$PKI/mismatch.key|" "$CONF"
	line=$(grep -n 'tls = {' "$CONF" | head -1 | cut -d: -f1)
	kill -HUP "$PID_A"
	wait_for 5 grep -q "reload rejected.*$CONF:$line: .*mismatch.key" "$T/a2.log" ||
		{ t_fail "no \"reload rejected ... $CONF:$line: ...\" in the log"; return 1; }
	[[ $(fingerprint_of $P_TLS) == "$want" ]] || { t_fail "the previous certificate is not served any more"; return 1; }
	s=$(curl -sS --max-time 5 --resolve "a.test:$P_TLS:$H" --cacert "$PKI2/root.crt" \
	    -o /dev/null -w '%{http_code}' "https://a.test:$P_TLS/echo" 2>&1)
	[[ $s == 200 ]] || { t_fail "after the rejected reload: $s"; return 1; }
	return 0
}

case_quick_mode() {
	local s pid
	spawn "$T/q.log" "$PROXYD" -R "$T" --listen "$H:$P_QHTTP" --tls-listen "$H:$P_QTLS" \
	    --cert "$PKI/a-ecdsa.crt" --key "$PKI/a-ecdsa.key" --to "$H:$P_B" --threads 1
	pid=$SPAWNED
	wait_for 5 listening $P_QTLS || { t_fail "quick mode did not start: $(tail -1 "$T/q.log")"; return 1; }
	s=$(curl -sS --max-time 5 --resolve "a.test:$P_QTLS:$H" --cacert "$PKI/root.crt" "https://a.test:$P_QTLS/echo")
	[[ $s == *"X-Forwarded-Proto: https"* ]] || { t_fail "https: $s"; return 1; }
	s=$(curl -sS --max-time 5 "http://$H:$P_QHTTP/echo")
	[[ $s == *"X-Forwarded-Proto: http"$'\r'* ]] || { t_fail "http: $s"; return 1; }
	stop_pid "$pid"
	# A bad key refuses to start, naming the file.
	s=$("$PROXYD" -R "$T" --tls-listen "$H:$P_QTLS" --cert "$PKI/a-ecdsa.crt" --key "$PKI/mismatch.key" \
	    --to "$H:$P_B" 2>&1) && { t_fail "mismatched key accepted"; return 1; }
	[[ $s == *"mismatch.key"* ]] || { t_fail "bad key: $s"; return 1; }
	return 0
}

case_backend_tls() {
	local s pid
	# Proxy D forwards over TLS to proxy A's TLS listener: verified against
	# the test root with SNI a.test; a wrong SNI must fail verification;
	# verify = false accepts anything (lab use).
	cat >"$T/d.conf" <<EOF
log = { level = "info"; access = "off"; };
admin = { listen = "$H:$P_ADM4"; socket = "$T/d.sock"; };
hacd = { channel = "$T/no-hacd.chan"; };
listeners = ( { name = "http"; listen = "$H:$P_UP"; } );
upstreams = (
  { name = "good"; tls = { ca = "$PKI/root.crt"; sni = "a.test"; }; check = { type = "tcp"; interval = "1s"; };
    servers = ( { address = "$H:$P_TLS"; } ); },
  { name = "badname"; retries = 0; tls = { ca = "$PKI/root.crt"; sni = "nobody.test"; }; servers = ( { address = "$H:$P_TLS"; } ); },
  { name = "lab"; tls = { verify = false; }; servers = ( { address = "$H:$P_TLS"; } ); },
  { name = "noname"; retries = 0; tls = { ca = "$PKI/root.crt"; }; servers = ( { address = "$H:$P_TLS"; } ); },
  { name = "addr"; tls = { ca = "$PKI/root.crt"; }; servers = ( { address = "$H:$P_IPTLS"; } ); }
);
routes = (
  { name = "badname"; match = { path_prefix = "/badname/"; }; upstream = "badname"; rewrite = { strip_prefix = "/badname"; }; },
  { name = "lab"; match = { path_prefix = "/lab/"; }; upstream = "lab"; rewrite = { strip_prefix = "/lab"; }; },
  { name = "noname"; match = { path_prefix = "/noname/"; }; upstream = "noname"; rewrite = { strip_prefix = "/noname"; }; },
  { name = "addr"; match = { path_prefix = "/addr/"; }; upstream = "addr"; rewrite = { strip_prefix = "/addr"; }; },
  { name = "good"; upstream = "good"; }
);
EOF
	chmod 644 "$T/d.conf"
	spawn "$T/d.log" "$PROXYD" -R "$T" -c "$T/d.conf"
	pid=$SPAWNED
	wait_for 5 listening $P_UP || { t_fail "proxy D did not start: $(tail -1 "$T/d.log")"; return 1; }
	s=$(curl -sS --max-time 5 "http://$H:$P_UP/echo")
	# The origin saw the request come through A's TLS listener.
	[[ $s == *"X-Forwarded-Proto: https"* ]] || { t_fail "over TLS: $s"; return 1; }
	s=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://$H:$P_UP/badname/echo")
	[[ $s == 502 ]] || { t_fail "wrong SNI: $s (want 502)"; return 1; }
	grep -q 'TLS handshake failed: certificate verify failed' "$T/d.log" || { t_fail "no verify failure logged"; return 1; }
	s=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://$H:$P_UP/lab/echo")
	[[ $s == 200 ]] || { t_fail "verify = false: $s"; return 1; }
	# No sni: the name checked is the server's address. A certificate the
	# test root vouches for, but for a.test, is refused for 127.0.0.1 (the
	# chain alone would let any certificate of the CA set through) ...
	local nb na
	nb=$(metric $P_ADM4 'tandem_tls_backend_handshake_failures_total{reason="name"}')
	s=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://$H:$P_UP/noname/echo")
	[[ $s == 502 ]] || { t_fail "a.test certificate for 127.0.0.1 without sni: $s (want 502)"; return 1; }
	na=$(metric $P_ADM4 'tandem_tls_backend_handshake_failures_total{reason="name"}')
	[[ -n $nb ]] && ((na >= nb + 1)) || { t_fail "backend name failures \"$nb\" -> \"$na\""; return 1; }
	# ... and one issued for the address passes.
	s=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://$H:$P_UP/addr/echo")
	[[ $s == 200 ]] || { t_fail "certificate for 127.0.0.1 without sni: $s (want 200)"; return 1; }
	# 2 MB each way, through both TLS hops.
	head -c 2000000 /dev/urandom >"$T/big.bin"
	s=$(curl -sS --max-time 20 --data-binary @"$T/big.bin" -o "$T/big.out" -w '%{http_code}' "http://$H:$P_UP/echo-body")
	{ [[ $s == 200 ]] && cmp -s "$T/big.bin" "$T/big.out"; } || { t_fail "2 MB echo: $s, or the bodies differ"; return 1; }
	# Keep-alive to the TLS backend under a short load: no error.
	timeout 15 wrk -t1 -c8 -d2s "http://$H:$P_UP/echo" >"$T/wrk-up.out" 2>&1
	s=$(wrk_errors "$T/wrk-up.out")
	[[ -z $s ]] || { t_fail "wrk through the TLS upstream: $s"; return 1; }
	stop_pid "$pid"
	return 0
}

case_metrics() {
	local hs rs
	hs=$(metric $P_ADM tandem_tls_handshakes_total)
	rs=$(metric $P_ADM tandem_tls_resumptions_total)
	[[ -n $hs && $hs -ge 10 ]] || { t_fail "handshakes = \"$hs\""; return 1; }
	[[ -n $rs && $rs -ge 1 ]] || { t_fail "resumptions = \"$rs\""; return 1; }
	return 0
}

t_case "bad certificates refused by proxyd -t with file:line" case_bad_certs_refused
t_case "SNI picks the certificate (exact, wildcard, default)" case_sni
t_case "ECDSA and RSA certificates on one name" case_ecdsa_rsa
t_case "TLS 1.0, 1.1 and non-ECDHE 1.2 refused; 1.2 and 1.3 served" case_old_protocols
t_case "sslscan: no weak protocol, no weak cipher, no renegotiation" case_sslscan
t_case "ALPN http/1.1 and OCSP stapling" case_alpn_ocsp
t_case "X-Forwarded-Proto https, HSTS, HTTP->HTTPS redirect" case_headers_hsts
t_case "300 pipelined requests in one write over TLS" case_pipelining
t_case "session resumption on the same process (TLS 1.3, 1.2)" case_resume_same_process
t_case "no resumption on another process (keys not shared without hacd)" case_resume_other_process
t_case "mTLS: client certificate accepted, none or rogue refused" case_mtls
t_case "mTLS: a plain listener's session does not resume without a certificate (TLS 1.3, 1.2)" case_mtls_resumption
t_case "TLS to a backend: verified with SNI or by address, wrong name 502, verify=false" case_backend_tls
t_case "no resumption after a restart (keys never on disk)" case_resume_after_restart
t_case "resumption after a ticket-key rotation (TLS 1.3, 1.2)" case_resume_after_rotation
t_case "certificate reload under load: 0 errors, new certificate served" case_reload_under_load
t_case "bad certificate at reload: file:line logged, old one serving" case_bad_reload_keeps_serving
t_case "quick mode --tls-listen beside --listen" case_quick_mode
t_case "TLS metrics: handshakes and resumptions" case_metrics

t_san_case
echo "$T_PASS passed, $T_FAIL failed"
((T_FAIL == 0))

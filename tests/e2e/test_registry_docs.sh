#!/bin/bash
# The file registry reloads an edited file by document: a document whose
# bytes did not change is not parsed again (its objects stay as they are),
# and the outcome is the same as a full reparse:
#   - an edit of one document of many: only it is parsed (the debug log
#     says "1 of N documents parsed"), its change is served, the others stay
#   - a document removed: its objects go; moved documents stay
#   - one object in two documents of one file: the later one wins, also
#     when only the earlier document is edited
#   - an object another file took over: an edit elsewhere in this file
#     takes it back, as a full reparse does (the later load wins)
#   - a changed document that does not parse: the file keeps its last
#     good objects
#   - a new file is applied as it is parsed: an error in it takes back what
#     it had put (and what it took over from another file returns)
#   - a file with a %YAML directive is parsed whole, and still served
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -eq 0 ]; then
	e2e_init regdocs
else
	E2E_NAME=regdocs
	E2E_PREFIX="emregd$$"
	E2E_DIR=$(mktemp -d "/tmp/edgemesh-e2e-regdocs.XXXXXX")
	trap e2e_cleanup EXIT INT TERM
fi
mkdir -p "$E2E_DIR/bin" "$E2E_DIR/registry"
for f in edgemesh-controller edgemeshctl; do
	[ -x "$B/$f" ] || { echo "regdocs: $B/$f missing; run make"; exit 1; }
	cp "$B/$f" "$E2E_DIR/bin/"
done
B=$E2E_DIR/bin
WAIT=5
REG=$E2E_DIR/registry
D=$E2E_DIR/n1
CFG=$(e2e_config 1 </dev/null)
LOG=$D/controller.log

ctl() { "$B/edgemeshctl" -c "$CFG" "$@" 2>>"$D/edgemeshctl.err"; }
services_has() { ctl services | grep -qE -- "$1"; }
services_lacks() { ctl services >"$D/services.out" && ! grep -qE -- "$1" "$D/services.out"; }
put_file() { cat >"$REG/.$1.tmp" && mv "$REG/.$1.tmp" "$REG/$1"; }
svc() {	# name clusterIP port
	printf -- '---\napiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n  namespace: docs\nspec:\n  clusterIP: %s\n  ports:\n  - port: %s\n' "$1" "$2" "$3"
}
parsed() {	# file "k of n": the last load of file parsed k of its n documents
	grep -F "registry: $REG/$1: " "$LOG" | tail -n 1 | grep -qF "$2 documents parsed"
}

# five services in five documents
{ for i in 1 2 3 4 5; do svc "s$i" "10.96.60.$i" 80; done; } | put_file many.yaml
"$B/edgemesh-controller" -c "$CFG" -d >>"$LOG" 2>&1 &
E2E_PIDS="$E2E_PIDS $!"
ok "the controller serves the five services" wait_for $WAIT services_has '^docs/s5 '
ok "... and parsed all five documents at start" parsed many.yaml "5 of 5"

{ for i in 1 2 3 4 5; do svc "s$i" "10.96.60.$i" $([ $i = 3 ] && echo 8080 || echo 80); done; } | put_file many.yaml
ok "an edit of one document is served" wait_for $WAIT services_has '^docs/s3 .*8080'
ok "... and only that document was parsed" parsed many.yaml "1 of 5"
ok "... the others stay" services_has '^docs/s5 .*10\.96\.60\.5'

# s2 goes; the documents after it move up a place
{ for i in 1 3 4 5; do svc "s$i" "10.96.60.$i" $([ $i = 3 ] && echo 8080 || echo 80); done; } | put_file many.yaml
ok "a removed document's object goes" wait_for $WAIT services_lacks '^docs/s2 '
ok "... the moved ones stay" services_has '^docs/s4 .*10\.96\.60\.4'
ok "... and none was parsed" parsed many.yaml "0 of 4"

# one object twice in a file: the later document wins, also when only the earlier changes
{ svc dup 10.96.60.20 80; svc other 10.96.60.21 80; svc dup 10.96.60.22 80; } | put_file dup.yaml
ok "defined twice in a file: the later one wins" wait_for $WAIT services_has '^docs/dup .*10\.96\.60\.22'
{ svc dup 10.96.60.23 80; svc other 10.96.60.21 80; svc dup 10.96.60.22 80; } | put_file dup.yaml
sleep 0.3
ok "... also when only the earlier one is edited" wait_for $WAIT services_has '^docs/dup .*10\.96\.60\.22'

# taken over by a later file, taken back by an edit elsewhere in this one
{ svc shared 10.96.60.30 80; svc a2 10.96.60.31 80; } | put_file a.yaml
ok "a's object is served" wait_for $WAIT services_has '^docs/shared .*10\.96\.60\.30'
svc shared 10.96.60.32 80 | put_file b.yaml
ok "b, loaded later, takes it over" wait_for $WAIT services_has '^docs/shared .*10\.96\.60\.32'
{ svc shared 10.96.60.30 80; svc a2 10.96.60.31 81; } | put_file a.yaml
ok "an edit of another document of a takes it back (as a full reparse)" \
	wait_for $WAIT services_has '^docs/shared .*10\.96\.60\.30'

# a changed document that does not parse: the file keeps its last good objects
{ svc s1 10.96.60.1 80; printf -- '---\nkind: [unclosed\n'; svc s4 10.96.60.4 80; } | put_file many.yaml
ok "a bad document is logged with the file's line" \
	wait_for $WAIT grep -qE "registry: $REG/many.yaml:1[0-9]:[0-9]+: .*keeping its last good objects" "$LOG"
ok "... and the file's objects stay" services_has '^docs/s5 '

# a new file is applied document by document as it is parsed; an error
# takes back what it had put, and what it had taken over returns
{ svc nb1 10.96.60.50 80; svc shared 10.96.60.51 80; printf -- '---\nkind: [unclosed\n'; } | put_file z-new.yaml
ok "a new file with a bad document is logged" \
	wait_for $WAIT grep -qE "registry: $REG/z-new.yaml:[0-9]+:[0-9]+: .*keeping its last good objects" "$LOG"
sleep 0.3
ok "... the objects before the error are not served" services_lacks '^docs/nb1 '
# (a.yaml and b.yaml both define it and are reloaded: the later name, b, wins)
ok "... and an object it had taken over is another file's again" \
	wait_for $WAIT services_has '^docs/shared .*10\.96\.60\.32'
rm -f "$REG/z-new.yaml"

# a big file parses on threads (more than one CPU), in the sandbox as it
# runs after start, and is applied in file order: of an object defined
# twice the later document wins; a full rewrite is parsed whole again
big() {	# port of the first definition of dup, port of the rest
	for i in $(seq 1 200); do
		[ "$i" = 5 ] && svc dup 10.96.61.250 "$1"
		svc "b$i" "10.96.61.$i" "$2"
	done
	svc dup 10.96.61.250 7777
}
big 6666 80 | put_file big.yaml
ok "a new file of 200 documents is served" wait_for $WAIT services_has '^docs/b200 '
ok "... of an object in it twice the later document wins" services_has '^docs/dup .*7777'
if [ "$(nproc)" -gt 1 ]; then
	ok "... parsed on threads" wait_for $WAIT grep -qE "registry: $REG/big.yaml: .*202 of 202 documents parsed \([1-9][0-9]* parser threads\)" "$LOG"
fi
big 6666 81 | put_file big.yaml
ok "every document of it changed: the edit is served" wait_for $WAIT services_has '^docs/b137 .*81'
ok "... all of them parsed again" parsed big.yaml "202 of 202"
ok "... the later definition still wins" services_has '^docs/dup .*7777'
{ for i in $(seq 1 150); do svc "c$i" "10.96.62.$i" 80; done; printf -- '---\nkind: [unclosed\n'
  for i in $(seq 151 200); do svc "c$i" "10.96.62.$i" 80; done; } | put_file big-bad.yaml
ok "a new big file with a bad document is logged with its line" \
	wait_for $WAIT grep -qE "registry: $REG/big-bad.yaml:150[0-9]:[0-9]+: .*keeping its last good objects" "$LOG"
sleep 0.3
ok "... and none of its objects is served" services_lacks '^docs/c1 '
ok "the controller lives on" services_has '^docs/b200 '

# directives: parsed whole
printf '%%YAML 1.1\n' >"$D/y.tmp"; svc dir 10.96.60.40 80 >>"$D/y.tmp"; put_file dir.yaml <"$D/y.tmp"
ok "a file with a directive is served" wait_for $WAIT services_has '^docs/dir '
ok "... parsed as one piece" parsed dir.yaml "1 of 1"
e2e_done

#!/usr/bin/env bash
# Regenerate the golden librdkafka wire captures in core/tests/data/librdkafka/.
#
# Runs capture_listener.py (a tiny fake single-node broker on 127.0.0.1) once per
# scenario and points a real client at it: kcat (librdkafka from Debian) and the
# confluent-kafka Python client (its bundled librdkafka). Then golden.py verify
# decodes every capture, checks CRC-32C and compares the records with the inputs.
#
# Usage: core/tests/data/capture/capture.sh            (OUT=... to write elsewhere)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../../.." && pwd)"
OUT="${OUT:-$ROOT/core/tests/data/librdkafka}"
PYTHON="${PYTHON:-python3}"
export PYTHONDONTWRITEBYTECODE=1
TOPIC=golden

"$ROOT/.ci/install-capture-deps"

WORK="$(mktemp -d)"
LPID=""
cleanup() {
    if [ -n "$LPID" ]; then kill "$LPID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

rm -rf "$OUT"
mkdir -p "$OUT"

KCAT_LIB="$(kcat -V 2>&1 | sed -n 's/.*librdkafka \([0-9.]*\).*/\1/p' | head -n1)"
KCAT_VER="$(kcat -V 2>&1 | sed -n 's/^Version \([0-9.]*\).*/\1/p' | head -n1)"
CK_LIB="$("$PYTHON" -c 'import confluent_kafka as c; print(c.libversion()[0])')"
CK_VER="$("$PYTHON" -c 'import confluent_kafka as c; print(c.__version__)')"
KCAT="kcat${KCAT_LIB}"
CK="librdkafka$(echo "$CK_LIB" | cut -d. -f1-2)"
echo "capture: kcat $KCAT_VER (librdkafka $KCAT_LIB) -> prefix $KCAT"
echo "capture: confluent-kafka $CK_VER (librdkafka $CK_LIB) -> prefix $CK"

# start_listener CLIENT TAG SOFTWARE COMMAND [listener args...]; sets PORT
start_listener() {
    local client="$1" tag="$2" software="$3" command="$4"
    shift 4
    rm -f "$WORK/port"
    echo "=== $client ${tag:-} : $command" >>"$WORK/listener.log"
    "$PYTHON" "$HERE/capture_listener.py" --out "$OUT" --client "$client" \
        ${tag:+--tag "$tag"} --client-software "$software" --command "$command" \
        --topics "$TOPIC" --port-file "$WORK/port" "$@" 2>>"$WORK/listener.log" &
    LPID=$!
    for _ in $(seq 100); do
        [ -s "$WORK/port" ] && break
        sleep 0.1
    done
    PORT="$(cat "$WORK/port")"
}

stop_listener() {
    sleep 0.3  # let the listener finish writing after the client disconnects
    kill "$LPID"
    wait "$LPID" 2>/dev/null || true
    LPID=""
}

# one_batch CLIENT CODEC: did the last produce run yield exactly one record batch?
# If not (librdkafka split the records), drop that run's Produce files so it can be redone.
one_batch() {
    local n
    n="$(find "$OUT" -name "$1-record-batch-$2*.bin" | wc -l)"
    if [ "$n" -eq 1 ]; then return 0; fi
    echo "capture: $1 $2 gave $n record batches, retrying" >&2
    rm -f "$OUT/$1-record-batch-$2"* "$OUT/$1-Produce-"*"-$2-"*
    return 1
}

# ---------------------------------------------------------------- kcat
KCAT_SW="kcat $KCAT_VER (librdkafka $KCAT_LIB)"

cmd="kcat -b 127.0.0.1:PORT -L"
start_listener "$KCAT" "" "$KCAT_SW" "$cmd"
timeout 60 kcat -b "127.0.0.1:$PORT" -L
stop_listener

# Same listing against a broker that only knows ApiVersions v0-v2: the client's v3
# request gets the KIP-511 UNSUPPORTED_VERSION answer and the client retries with v2.
cmd="kcat -b 127.0.0.1:PORT -L   (listener advertises ApiVersions 0-2 only)"
start_listener "$KCAT" "" "$KCAT_SW" "$cmd" --max-version 18=2
timeout 60 kcat -b "127.0.0.1:$PORT" -L >/dev/null
stop_listener

"$PYTHON" "$HERE/golden.py" kcat-spec "$WORK/kcat-records.json" "$WORK/kcat-input.txt"
for codec in none gzip snappy lz4 zstd; do
    zflag=()
    [ "$codec" = none ] || zflag=(-z "$codec")
    cmd="kcat -b 127.0.0.1:PORT -t $TOPIC -P -K: -H trace=abc -H app=microkafka ${zflag[*]:+${zflag[*]} }-X linger.ms=100 -X acks=1 -X enable.idempotence=false < kcat-input.txt"
    for attempt in 1 2 3; do
        start_listener "$KCAT" "$codec" "$KCAT_SW" "$cmd" --records "$WORK/kcat-records.json"
        timeout 60 kcat -b "127.0.0.1:$PORT" -t "$TOPIC" -P -K: -H trace=abc -H app=microkafka \
            "${zflag[@]}" -X linger.ms=100 -X acks=1 -X enable.idempotence=false \
            <"$WORK/kcat-input.txt"
        stop_listener
        if one_batch "$KCAT" "$codec"; then break; fi
        [ "$attempt" -lt 3 ] || { echo "capture: giving up on $KCAT $codec" >&2; exit 1; }
    done
done

# ----------------------------------------------------- confluent-kafka
CK_SW="confluent-kafka-python $CK_VER (librdkafka $CK_LIB)"

cmd="AdminClient({'bootstrap.servers': '127.0.0.1:PORT'}).list_topics(timeout=20)"
start_listener "$CK" "" "$CK_SW" "$cmd"
"$PYTHON" "$HERE/golden.py" confluent-admin "$PORT"
stop_listener

cmd="AdminClient({'bootstrap.servers': '127.0.0.1:PORT'}).list_topics(timeout=20)   (listener advertises ApiVersions 0-2 only)"
start_listener "$CK" "" "$CK_SW" "$cmd" --max-version 18=2
"$PYTHON" "$HERE/golden.py" confluent-admin "$PORT"
stop_listener

"$PYTHON" "$HERE/golden.py" confluent-spec "$WORK/ck-records.json"
for codec in none gzip snappy lz4 zstd; do
    cmd="Producer({'bootstrap.servers': '127.0.0.1:PORT', 'linger.ms': 100, 'acks': 1, 'enable.idempotence': False, 'compression.type': '$codec'}); list_topics('$TOPIC'); produce(topic='$TOPIC', partition=0, key, value, headers, timestamp) per record; flush() -- see golden.py confluent_produce"
    for attempt in 1 2 3; do
        start_listener "$CK" "$codec" "$CK_SW" "$cmd" --records "$WORK/ck-records.json"
        "$PYTHON" "$HERE/golden.py" confluent-produce "$PORT" "$WORK/ck-records.json" "$codec"
        stop_listener
        if one_batch "$CK" "$codec"; then break; fi
        [ "$attempt" -lt 3 ] || { echo "capture: giving up on $CK $codec" >&2; exit 1; }
    done
done

cp "$WORK/kcat-input.txt" "$OUT/$KCAT-produce-input.txt"
if [ -n "${KEEP_LOG:-}" ]; then cp "$WORK/listener.log" "$KEEP_LOG"; fi

# --------------------------------------------------------------- verify
"$PYTHON" "$HERE/golden.py" verify "$OUT"
echo "capture: wrote $(ls "$OUT" | wc -l) files to $OUT"

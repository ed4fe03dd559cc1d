#!/usr/bin/env bash
# Certificates for topofit on clusters without cert-manager.
#
#   hack/gen-certs.sh [--dir DIR] [--namespace NS] [--days N] [--no-apply]
#
# 1. Creates a CA in DIR (default ./topofit-certs), or reuses the one already
#    there (ca.crt + ca.key). Keep DIR private: ca.key signs serving certificates.
# 2. Issues a serving certificate (ECDSA P-256) for the webhook Service
#    (topofit-webhook.NS.svc, .svc.cluster.local) and for the scheduler sidecar
#    (127.0.0.1, localhost), valid for N days (default 365).
# 3. Unless --no-apply: writes the Secret NS/topofit-tls (tls.crt, tls.key,
#    ca.crt), sets the caBundle of the MutatingWebhookConfiguration "topofit" when
#    it exists, and restarts topofit-scheduler when the CA is new (kube-scheduler
#    reads its caFile only at start). topofit itself picks up the new files
#    without a restart.
#
# Run it again before the certificate expires (with the same --dir) to renew.
# Needs openssl and kubectl (the current context, or KUBECONFIG).
set -euo pipefail

dir=./topofit-certs
namespace=topofit-system
days=365
apply=1
service=topofit-webhook
secret=topofit-tls
webhook=topofit
kubectl=${KUBECTL:-kubectl}

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --namespace) namespace=$2; shift 2 ;;
    --days) days=$2; shift 2 ;;
    --no-apply) apply=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gen-certs: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$days" =~ ^[0-9]+$ ]] || { echo "gen-certs: --days must be a number" >&2; exit 2; }
command -v openssl >/dev/null || { echo "gen-certs: openssl not found" >&2; exit 1; }

mkdir -p "$dir"
chmod 700 "$dir"
umask 077
new_ca=0
if [[ -s "$dir/ca.crt" && -s "$dir/ca.key" ]]; then
  echo "gen-certs: reusing the CA in $dir"
else
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$dir/ca.key" -sha256 -days 3650 -subj "/CN=topofit-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$dir/ca.crt"
  new_ca=1
  echo "gen-certs: created a CA in $dir (valid 10 years)"
fi

svc="$service.$namespace.svc"
cat > "$dir/serving.ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:$svc,DNS:$svc.cluster.local,DNS:localhost,IP:127.0.0.1
EOF
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/tls.key" 2>/dev/null
openssl req -new -key "$dir/tls.key" -subj "/CN=$svc" -out "$dir/tls.csr"
openssl x509 -req -in "$dir/tls.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
  -days "$days" -sha256 -extfile "$dir/serving.ext" -out "$dir/tls.crt" 2>/dev/null
rm -f "$dir/tls.csr" "$dir/serving.ext"
openssl verify -CAfile "$dir/ca.crt" "$dir/tls.crt" >/dev/null
echo "gen-certs: serving certificate for $svc, localhost, 127.0.0.1 (valid $days days) in $dir"

if [[ $apply -eq 0 ]]; then
  exit 0
fi

"$kubectl" get namespace "$namespace" >/dev/null 2>&1 || "$kubectl" create namespace "$namespace"
"$kubectl" -n "$namespace" create secret generic "$secret" --type=kubernetes.io/tls \
  --from-file=tls.crt="$dir/tls.crt" --from-file=tls.key="$dir/tls.key" --from-file=ca.crt="$dir/ca.crt" \
  --dry-run=client -o yaml | "$kubectl" apply -f -

if "$kubectl" get mutatingwebhookconfiguration "$webhook" >/dev/null 2>&1; then
  bundle=$(base64 < "$dir/ca.crt" | tr -d '\n')
  "$kubectl" patch mutatingwebhookconfiguration "$webhook" --type=json \
    -p "[{\"op\":\"add\",\"path\":\"/webhooks/0/clientConfig/caBundle\",\"value\":\"$bundle\"}]"
else
  echo "gen-certs: no MutatingWebhookConfiguration $webhook yet: run this again after kubectl apply -k manifests/base"
fi

if [[ $new_ca -eq 1 ]] && "$kubectl" -n "$namespace" get deployment topofit-scheduler >/dev/null 2>&1; then
  "$kubectl" -n "$namespace" rollout restart deployment topofit-scheduler
fi

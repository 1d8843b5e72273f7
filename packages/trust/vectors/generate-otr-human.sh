#!/bin/sh
# Regenerates otr-human.json: libotr 4.1.1's otrl_privkey_hash_to_human (Debian libotr5-dev) applied to
# 20-byte hashes derived deterministically from SHA-1 of "parley-trust-otr-<n>" plus all-zero and all-0xff.
# Usage (needs gcc, libotr5-dev, sha1sum): sh vectors/generate-otr-human.sh > vectors/otr-human.json
set -eu
dir=$(dirname "$0")
tmp=$(mktemp -d)
gcc -O1 -o "$tmp/otr-human" "$dir/otr-human.c" -lotr
{
  printf '0000000000000000000000000000000000000000\n'
  printf 'ffffffffffffffffffffffffffffffffffffffff\n'
  for n in 1 2 3 4 5 6 7 8; do printf 'parley-trust-otr-%s' "$n" | sha1sum | cut -c1-40; done
} | "$tmp/otr-human" | {
  printf '{\n  "origin": "libotr 4.1.1 otrl_privkey_hash_to_human (Debian libotr5-dev), see generate-otr-human.sh",\n  "vectors": [\n'
  first=1
  while read -r row; do
    if [ $first -eq 0 ]; then printf ',\n'; fi
    printf '    %s' "$row"
    first=0
  done
  printf '\n  ]\n}\n'
}
rm -rf "$tmp"

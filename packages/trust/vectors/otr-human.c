/* Prints libotr's human-readable form of 20-byte fingerprints read as hex lines on stdin, one JSON object per line. */
#include <stdio.h>
#include <string.h>
#include <libotr/privkey.h>

int main(void) {
  char line[128];
  while (fgets(line, sizeof line, stdin)) {
    unsigned char hash[20];
    char human[OTRL_PRIVKEY_FPRINT_HUMAN_LEN];
    for (int i = 0; i < 20; i++) sscanf(line + 2 * i, "%2hhx", &hash[i]);
    otrl_privkey_hash_to_human(human, hash);
    line[40] = '\0';
    printf("{\"hash\":\"%s\",\"human\":\"%s\"}\n", line, human);
  }
  return 0;
}

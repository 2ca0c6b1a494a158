/*
 * watch.c: follow the directory while the device runs, through the annexr C ABI.
 *
 * Starts a watch of this device ([device] name of the TOML settings) and of
 * the peers of its [probe] device types, prints each event (one JSON object
 * per line) as the directory changes, and stops when a line "stop" arrives on
 * standard input (a modality would stop it at shutdown).
 *
 * Build against the static library (see crates/ffi/README.md):
 *   cargo build -p annexr-ffi
 *   cc -std=c99 -Wall -Wextra -I crates/ffi/include examples/c/watch.c \
 *      target/debug/libannexr_ffi.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc \
 *      -o watch
 *
 * Usage: watch CONFIG.toml
 * Exit status: 0 stopped cleanly, 1 an API call failed.
 */
#include <stdio.h>
#include <string.h>

#include "annexr.h"

static int report_failure(const char *what, AnnexrStatus status) {
    char *message = annexr_last_error_message();
    fprintf(stderr, "%s failed: %s: %s\n", what, annexr_status_name(status),
            message != NULL ? message : "(no message)");
    annexr_string_free(message);
    return 1;
}

/* Runs on the watch's own thread, one event at a time: copy what you keep. */
static void on_event(void *user, const char *event_json) {
    unsigned *count = (unsigned *)user;
    *count += 1;
    printf("event: %s\n", event_json);
    fflush(stdout);
}

int main(int argc, char **argv) {
    AnnexrStartup *startup = NULL;
    AnnexrWatch *watch = NULL;
    AnnexrStatus status;
    unsigned count = 0;
    char line[64];

    if (argc != 2) {
        fprintf(stderr, "usage: %s CONFIG.toml\n", argv[0]);
        return 1;
    }
    status = annexr_startup_new_from_file(argv[1], &startup);
    if (status != ANNEXR_STATUS_OK) {
        return report_failure("annexr_startup_new_from_file", status);
    }
    status = annexr_watch_start(startup, on_event, &count, &watch);
    /* The watch does not need the startup handle any more. */
    annexr_startup_free(startup);
    if (status != ANNEXR_STATUS_OK) {
        return report_failure("annexr_watch_start", status);
    }
    printf("watching\n");
    fflush(stdout);
    while (fgets(line, sizeof line, stdin) != NULL) {
        if (strncmp(line, "stop", 4) == 0) {
            break;
        }
    }
    status = annexr_watch_stop(watch);
    if (status != ANNEXR_STATUS_OK) {
        return report_failure("annexr_watch_stop", status);
    }
    /* After annexr_watch_stop returns, the callback never runs again. */
    printf("stopped after %u events\n", count);
    return 0;
}

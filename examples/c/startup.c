/*
 * startup.c: a modality's boot through the annexr C ABI.
 *
 * Runs the DICOM PS3.17 Annex R normal startup (R.4) with the settings of a
 * TOML file and the device's local description (JSON in the model's store
 * form), prints the progress events and the report, then resolves a peer AE
 * over LDAP (R.3), finds AEs by device type (R.3.1) and probes the peer with
 * an association and a C-ECHO.
 *
 * Build against the static library (see crates/ffi/README.md):
 *   cargo build -p annexr-ffi
 *   cc -std=c99 -Wall -Wextra -I crates/ffi/include examples/c/startup.c \
 *      target/debug/libannexr_ffi.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc \
 *      -o startup
 *
 * Usage: startup CONFIG.toml [DEVICE.json [PEER_AE [DEVICE_TYPE]]]
 * Exit status: 0 configured, 2 not configured, 1 an API call failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "annexr.h"

/* Prints the failed call's status and the library's message, then frees the message. */
static int report_failure(const char *what, AnnexrStatus status) {
    char *message = annexr_last_error_message();
    fprintf(stderr, "%s failed: %s: %s\n", what, annexr_status_name(status),
            message != NULL ? message : "(no message)");
    annexr_string_free(message);
    return 1;
}

/* Reads a whole file into a NUL-terminated buffer the caller frees with free(). */
static char *read_file(const char *path) {
    FILE *file = fopen(path, "rb");
    char *text = NULL;
    long size;
    if (file == NULL) {
        return NULL;
    }
    if (fseek(file, 0, SEEK_END) == 0 && (size = ftell(file)) >= 0 && fseek(file, 0, SEEK_SET) == 0) {
        text = malloc((size_t)size + 1);
        if (text != NULL) {
            size_t got = fread(text, 1, (size_t)size, file);
            text[got] = '\0';
        }
    }
    fclose(file);
    return text;
}

/* The progress callback: a modality would update its boot screen here. */
static void on_progress(void *user, const char *event_json) {
    unsigned *count = (unsigned *)user;
    *count += 1;
    printf("progress: %s\n", event_json);
    fflush(stdout);
}

/* Prints one JSON result between markers, then frees it. */
static void print_section(const char *name, char *json) {
    printf("=== %s ===\n%s\n=== end %s ===\n", name, json, name);
    annexr_string_free(json);
}

int main(int argc, char **argv) {
    AnnexrStartup *startup = NULL;
    AnnexrStatus status;
    unsigned events = 0;
    int32_t configured = 0;
    char *json = NULL;
    int exit_code = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s CONFIG.toml [DEVICE.json [PEER_AE [DEVICE_TYPE]]]\n", argv[0]);
        return 1;
    }
    printf("annexr %s\n", annexr_version());

    status = annexr_startup_new_from_file(argv[1], &startup);
    if (status != ANNEXR_STATUS_OK) {
        return report_failure("annexr_startup_new_from_file", status);
    }

    if (argc >= 3) {
        char *device = read_file(argv[2]);
        if (device == NULL) {
            fprintf(stderr, "cannot read %s\n", argv[2]);
            annexr_startup_free(startup);
            return 1;
        }
        status = annexr_startup_set_local_device(startup, device);
        free(device);
        if (status != ANNEXR_STATUS_OK) {
            exit_code = report_failure("annexr_startup_set_local_device", status);
            goto done;
        }
    }

    status = annexr_startup_set_progress_callback(startup, on_progress, &events);
    if (status != ANNEXR_STATUS_OK) {
        exit_code = report_failure("annexr_startup_set_progress_callback", status);
        goto done;
    }

    /* R.4: blocks until the sequence ends; the callback runs meanwhile. */
    status = annexr_startup_run(startup, &configured);
    if (status != ANNEXR_STATUS_OK) {
        exit_code = report_failure("annexr_startup_run", status);
        goto done;
    }
    printf("configured: %d after %u progress events\n", (int)configured, events);

    status = annexr_startup_report_json(startup, &json);
    if (status != ANNEXR_STATUS_OK) {
        exit_code = report_failure("annexr_startup_report_json", status);
        goto done;
    }
    print_section("report", json);

    if (configured) {
        status = annexr_startup_device_json(startup, &json);
        if (status != ANNEXR_STATUS_OK) {
            exit_code = report_failure("annexr_startup_device_json", status);
            goto done;
        }
        print_section("device", json);
    }

    if (argc >= 4) {
        /* R.3: where does the peer AE listen? */
        status = annexr_resolve_ae(startup, argv[3], &json);
        if (status != ANNEXR_STATUS_OK) {
            exit_code = report_failure("annexr_resolve_ae", status);
            goto done;
        }
        print_section("resolve", json);

        /* Association + C-ECHO to the address LDAP gave; the calling AE is the device's own. */
        status = annexr_probe_ae(startup, argv[3], NULL, &json);
        if (status != ANNEXR_STATUS_OK) {
            exit_code = report_failure("annexr_probe_ae", status);
            goto done;
        }
        print_section("probe", json);
    }

    if (argc >= 5) {
        /* R.3.1: every installed AE of that device type. */
        status = annexr_find_aes_by_device_type(startup, argv[4], 1, &json);
        if (status != ANNEXR_STATUS_OK) {
            exit_code = report_failure("annexr_find_aes_by_device_type", status);
            goto done;
        }
        print_section("find", json);
    }

    /* An error path: an unknown AE is ANNEXR_STATUS_NOT_FOUND with a message. */
    status = annexr_resolve_ae(startup, "NO-SUCH-AE", &json);
    if (status == ANNEXR_STATUS_OK) {
        annexr_string_free(json);
    } else {
        char *message = annexr_last_error_message();
        printf("unknown AE: %s: %s\n", annexr_status_name(status), message != NULL ? message : "");
        annexr_string_free(message);
    }

    if (exit_code == 0 && !configured) {
        exit_code = 2;
    }

done:
    /* R.5: stop time sync, release a DHCP lease; 0: stay "installed" in LDAP. */
    status = annexr_startup_shutdown(startup, 0, &json);
    if (status == ANNEXR_STATUS_OK) {
        print_section("shutdown", json);
    } else if (exit_code == 0) {
        exit_code = report_failure("annexr_startup_shutdown", status);
    }
    annexr_startup_free(startup);
    return exit_code;
}

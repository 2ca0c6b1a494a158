// startup.cpp: the same boot as startup.c, from C++ with RAII: handles and
// strings are owned by std::unique_ptr with the library's free functions, and
// failed calls become exceptions carrying the library's message.
//
// Build against the static library (see crates/ffi/README.md):
//   cargo build -p annexr-ffi
//   c++ -std=c++17 -Wall -Wextra -I crates/ffi/include -o startup_cpp examples/c/startup.cpp target/debug/libannexr_ffi.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
//
// Usage: startup_cpp CONFIG.toml [DEVICE.json [PEER_AE [DEVICE_TYPE]]]
// Exit status: 0 configured, 2 not configured, 1 an API call failed.
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <utility>
#include <string>
#include <vector>

#include "annexr.h"

namespace annexr {

// A failed call: the status and the library's last-error message.
class Error : public std::runtime_error {
public:
    Error(const char *call, AnnexrStatus status)
        : std::runtime_error(describe(call, status)), status_(status) {}
    AnnexrStatus status() const { return status_; }

private:
    static std::string describe(const char *call, AnnexrStatus status) {
        std::unique_ptr<char, decltype(&annexr_string_free)> message(annexr_last_error_message(),
                                                                      &annexr_string_free);
        // The message names the function already; without one, name it here.
        std::string text = annexr_status_name(status);
        text += ": ";
        text += message ? message.get() : call;
        return text;
    }
    AnnexrStatus status_;
};

inline void check(const char *call, AnnexrStatus status) {
    if (status != ANNEXR_STATUS_OK) {
        throw Error(call, status);
    }
}

// Takes ownership of a returned string: copies it and frees the original.
inline std::string take(char *owned) {
    std::unique_ptr<char, decltype(&annexr_string_free)> guard(owned, &annexr_string_free);
    return owned != nullptr ? std::string(owned) : std::string();
}

// One device's startup; the handle is freed by the destructor.
class Startup {
public:
    static Startup from_file(const std::string &path) {
        std::unique_ptr<Progress> progress(new Progress);
        AnnexrStartup *raw = nullptr;
        check("annexr_startup_new_from_file", annexr_startup_new_from_file(path.c_str(), &raw));
        return Startup(raw, std::move(progress));
    }

    void set_local_device(const std::string &json) {
        check("annexr_startup_set_local_device", annexr_startup_set_local_device(handle_.get(), json.c_str()));
    }

    // Events arrive on a library thread; they are collected under a lock.
    void collect_progress() {
        check("annexr_startup_set_progress_callback",
              annexr_startup_set_progress_callback(handle_.get(), &Startup::on_progress, progress_.get()));
    }

    bool run() {
        int32_t configured = 0;
        check("annexr_startup_run", annexr_startup_run(handle_.get(), &configured));
        return configured != 0;
    }

    std::string report_json() { return string_call("annexr_startup_report_json", annexr_startup_report_json); }
    std::string device_json() { return string_call("annexr_startup_device_json", annexr_startup_device_json); }

    std::string resolve_ae(const std::string &title) {
        char *out = nullptr;
        check("annexr_resolve_ae", annexr_resolve_ae(handle_.get(), title.c_str(), &out));
        return take(out);
    }

    std::string probe_ae(const std::string &title) {
        char *out = nullptr;
        check("annexr_probe_ae", annexr_probe_ae(handle_.get(), title.c_str(), nullptr, &out));
        return take(out);
    }

    std::string find_aes(const std::string &device_type) {
        char *out = nullptr;
        check("annexr_find_aes_by_device_type",
              annexr_find_aes_by_device_type(handle_.get(), device_type.c_str(), 1, &out));
        return take(out);
    }

    // R.5; `set_offline` also marks the device not installed in LDAP.
    std::string shutdown(bool set_offline) {
        char *out = nullptr;
        check("annexr_startup_shutdown", annexr_startup_shutdown(handle_.get(), set_offline ? 1 : 0, &out));
        return take(out);
    }

    std::vector<std::string> events() const {
        std::lock_guard<std::mutex> lock(progress_->mutex);
        return progress_->events;
    }

private:
    struct Progress {
        std::mutex mutex;
        std::vector<std::string> events;
    };

    Startup(AnnexrStartup *raw, std::unique_ptr<Progress> progress)
        : progress_(std::move(progress)), handle_(raw, &annexr_startup_free) {}

    // Must not throw: an exception may not cross the C boundary.
    static void on_progress(void *user, const char *event_json) noexcept {
        try {
            auto *progress = static_cast<Progress *>(user);
            std::lock_guard<std::mutex> lock(progress->mutex);
            progress->events.emplace_back(event_json);
        } catch (...) {
            // Out of memory: lose the event, not the boot.
        }
    }

    std::string string_call(const char *name, AnnexrStatus (*call)(AnnexrStartup *, char **)) {
        char *out = nullptr;
        check(name, call(handle_.get(), &out));
        return take(out);
    }

    // Declared first, destroyed last: the handle, whose callback writes to
    // progress_, is freed before it.
    std::unique_ptr<Progress> progress_;
    std::unique_ptr<AnnexrStartup, decltype(&annexr_startup_free)> handle_;
};

}  // namespace annexr

static std::string read_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot read " + path);
    }
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

static void section(const std::string &name, const std::string &json) {
    std::cout << "=== " << name << " ===\n" << json << "\n=== end " << name << " ===\n";
}

int main(int argc, char **argv) {
    if (argc < 2) {
        std::cerr << "usage: " << argv[0] << " CONFIG.toml [DEVICE.json [PEER_AE [DEVICE_TYPE]]]\n";
        return 1;
    }
    std::cout << "annexr " << annexr_version() << "\n";
    try {
        auto startup = annexr::Startup::from_file(argv[1]);
        if (argc >= 3) {
            startup.set_local_device(read_file(argv[2]));
        }
        startup.collect_progress();
        const bool configured = startup.run();
        for (const auto &event : startup.events()) {
            std::cout << "progress: " << event << "\n";
        }
        std::cout << "configured: " << (configured ? 1 : 0) << " after " << startup.events().size()
                  << " progress events\n";
        section("report", startup.report_json());
        if (configured) {
            section("device", startup.device_json());
        }
        if (argc >= 4) {
            section("resolve", startup.resolve_ae(argv[3]));
            section("probe", startup.probe_ae(argv[3]));
        }
        if (argc >= 5) {
            section("find", startup.find_aes(argv[4]));
        }
        try {
            startup.resolve_ae("NO-SUCH-AE");
        } catch (const annexr::Error &e) {
            std::cout << "unknown AE: " << e.what() << "\n";
        }
        section("shutdown", startup.shutdown(false));
        return configured ? 0 : 2;
    } catch (const std::exception &e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    }
}

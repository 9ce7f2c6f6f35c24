#pragma once

// Thin RAII and error helpers over the HDF5 C API, shared by the workload
// store and the simulator's result writer.
// The C API is used rather than H5Cpp because it gives direct control over
// bulk reads, property lists and error reporting, with no extra exceptions.

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "allot/core/error.h"

namespace allot::traces::h5 {

// Owns one HDF5 identifier and closes it with the matching H5xclose.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  Handle(Handle&& other) noexcept
      : id_(std::exchange(other.id_, H5I_INVALID_HID)), close_(other.close_) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
      close_ = other.close_;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset() {
    if (id_ >= 0 && close_ != nullptr) close_(id_);
    id_ = H5I_INVALID_HID;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer close_ = nullptr;
};

// Silences HDF5's automatic error printing on this thread for its lifetime
// (errors become allot::Error messages instead), restoring it afterwards.
// HDF5 keeps this setting per thread in thread-safe builds.
class QuietErrors {
 public:
  QuietErrors() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietErrors() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }
  QuietErrors(const QuietErrors&) = delete;
  QuietErrors& operator=(const QuietErrors&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

// The innermost message of the current HDF5 error stack ("" when empty).
inline std::string lastErrorDetail() {
  std::string detail;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* err, void* data) -> herr_t {
        if (n == 0 && err->desc != nullptr) *static_cast<std::string*>(data) = err->desc;
        return 0;
      },
      &detail);
  return detail;
}

// Throws Error("<path>: <what> (<hdf5 detail>)") when `status` is negative.
inline void check(herr_t status, std::string_view path, std::string_view what) {
  if (status >= 0) return;
  std::string message = std::string(path) + ": " + std::string(what);
  if (std::string detail = lastErrorDetail(); !detail.empty()) message += " (" + detail + ")";
  throw Error(message);
}

inline Handle checkId(hid_t id, Handle::Closer close, std::string_view path,
                      std::string_view what) {
  if (id < 0) check(-1, path, what);
  return Handle(id, close);
}

template <class T>
hid_t nativeType();
template <>
inline hid_t nativeType<double>() {
  return H5T_NATIVE_DOUBLE;
}
template <>
inline hid_t nativeType<std::int64_t>() {
  return H5T_NATIVE_INT64;
}
template <>
inline hid_t nativeType<std::uint64_t>() {
  return H5T_NATIVE_UINT64;
}
template <>
inline hid_t nativeType<std::int32_t>() {
  return H5T_NATIVE_INT32;
}
template <>
inline hid_t nativeType<std::uint32_t>() {
  return H5T_NATIVE_UINT32;
}
template <>
inline hid_t nativeType<std::uint8_t>() {
  return H5T_NATIVE_UINT8;
}

// A variable-length UTF-8 string type (caller owns the handle).
inline Handle stringType() {
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  H5Tset_cset(type, H5T_CSET_UTF8);
  return Handle(type, H5Tclose);
}

// A fixed-length UTF-8 string type of `bytes` bytes, NUL padded (caller
// owns the handle).
inline Handle fixedStringType(std::size_t bytes) {
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, bytes);
  H5Tset_strpad(type, H5T_STR_NULLPAD);
  H5Tset_cset(type, H5T_CSET_UTF8);
  return Handle(type, H5Tclose);
}

}  // namespace allot::traces::h5

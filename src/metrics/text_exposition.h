// SPDX-License-Identifier: Apache-2.0
// The scrape's fast path. TextExposition is implemented by a Collectable
// that can write its Prometheus text exposition (format 0.0.4) itself:
// MetricsServer then serves that instead of Collect() + TextSerializer,
// which builds one ClientMetric (with its label strings) per series. At
// 100,000 per-job series that path took ~210 ms per scrape and left ~65 MiB
// of freed heap in each civetweb worker thread's malloc arena, i.e. in the
// daemon's RSS for good (measured, tests/bench/README.md).
//
// PageBuffer: an append-only byte buffer in its own anonymous mapping, grown
// with mremap and unmapped when destroyed, so a scrape's tens of MiB go back
// to the kernel the moment the answer is sent, whatever thread built it.
//
// Thread-safety: a PageBuffer belongs to one thread. writeText() may be
// called from any thread, concurrently.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstring>
#include <new>
#include <string_view>

namespace jobwatch::metrics {

class PageBuffer {
 public:
  PageBuffer() = default;
  ~PageBuffer() {
    if (data_ != nullptr) ::munmap(data_, capacity_);
  }
  PageBuffer(const PageBuffer&) = delete;
  PageBuffer& operator=(const PageBuffer&) = delete;

  void append(std::string_view text) {
    if (text.size() > capacity_ - size_) grow(text.size());
    std::memcpy(data_ + size_, text.data(), text.size());
    size_ += text.size();
  }
  const char* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::string_view view() const { return {data_, size_}; }

 private:
  static constexpr std::size_t kInitialBytes = std::size_t{1} << 20;

  // Only touched pages cost memory; doubling keeps appends amortised O(1).
  void grow(std::size_t more) {
    std::size_t capacity = capacity_ == 0 ? kInitialBytes : capacity_;
    while (capacity - size_ < more) capacity *= 2;
    void* p = data_ == nullptr ? ::mmap(nullptr, capacity, PROT_READ | PROT_WRITE,
                                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                               : ::mremap(data_, capacity_, capacity, MREMAP_MAYMOVE);
    if (p == MAP_FAILED) throw std::bad_alloc();
    data_ = static_cast<char*>(p);
    capacity_ = capacity;
  }

  char* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

class TextExposition {
 public:
  virtual ~TextExposition() = default;
  // Appends every family, exactly as prometheus::TextSerializer would
  // write Collect()'s result.
  virtual void writeText(PageBuffer& out) const = 0;
};

}  // namespace jobwatch::metrics

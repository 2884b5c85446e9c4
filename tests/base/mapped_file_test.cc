// MappedFile's page dropping: which of the process's pages of a mapping stay
// resident after DropPages and DropPagesAround, read from /proc/self/pagemap
// (its "present" bit needs no privilege), and that dropped bytes read back
// unchanged.
#include "base/mapped_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "../process_temp_dir.h"

namespace plexus {
namespace {

constexpr int kPages = 16;

// Whether the page at `p` is mapped into this process now.
bool Resident(const uint8_t* p) {
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0) << "cannot open /proc/self/pagemap";
  uint64_t entry = 0;
  const auto at = static_cast<off_t>(reinterpret_cast<uintptr_t>(p) / page * sizeof(entry));
  EXPECT_EQ(pread(fd, &entry, sizeof(entry), at), static_cast<ssize_t>(sizeof(entry))) << "reading /proc/self/pagemap";
  close(fd);
  return (entry >> 63) != 0;
}

class MappedFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const std::string path = (testing::ProcessTempDir("mapped_file") / "pages.bin").string();
    bytes_.resize(kPages * page_);
    for (size_t i = 0; i < bytes_.size(); ++i) bytes_[i] = static_cast<uint8_t>(i * 131 + i / page_);
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes_.data()), bytes_.size());
    auto opened = MappedFile::Open(path);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    file_ = std::move(opened).value();
  }
  // Reads every page (faulting it in) and checks the bytes.
  void TouchAll() {
    for (size_t i = 0; i < bytes_.size(); ++i) ASSERT_EQ(file_->data()[i], bytes_[i]) << "byte " << i;
    for (int k = 0; k < kPages; ++k) ASSERT_TRUE(Resident(PageAt(k))) << "page " << k;
  }
  const uint8_t* PageAt(int k) const { return file_->data() + static_cast<size_t>(k) * page_; }
  std::vector<int> ResidentPages() const {
    std::vector<int> out;
    for (int k = 0; k < kPages; ++k)
      if (Resident(PageAt(k))) out.push_back(k);
    return out;
  }
  static std::vector<int> AllBut(std::initializer_list<int> gone) {
    std::vector<int> out;
    for (int k = 0; k < kPages; ++k)
      if (std::find(gone.begin(), gone.end(), k) == gone.end()) out.push_back(k);
    return out;
  }

  size_t page_ = 0;
  std::vector<uint8_t> bytes_;
  std::unique_ptr<MappedFile> file_;
};

TEST_F(MappedFileTest, DropPagesKeepsPartlyCoveredPages) {
  TouchAll();
  file_->DropPages(PageAt(3) + 100, 200);               // inside one page: nothing whole
  file_->DropPages(PageAt(5) + 1, 2 * page_);           // covers page 6 only
  file_->DropPages(PageAt(9), 2 * page_);               // exactly pages 9 and 10
  EXPECT_EQ(ResidentPages(), AllBut({6, 9, 10}));
  TouchAll();  // the dropped bytes read back unchanged
}

TEST_F(MappedFileTest, DropPagesAroundTakesEveryTouchedPage) {
  TouchAll();
  file_->DropPagesAround(PageAt(3) + 100, 200);         // a short range: its page
  file_->DropPagesAround(PageAt(6) - 10, 20);           // across a boundary: both pages
  file_->DropPagesAround(PageAt(9), 2 * page_);         // aligned: exactly pages 9 and 10
  file_->DropPagesAround(PageAt(kPages - 1) + 7, page_ - 7);  // up to the file's end
  EXPECT_EQ(ResidentPages(), AllBut({3, 5, 6, 9, 10, kPages - 1}));
  TouchAll();
}

TEST_F(MappedFileTest, DropOutsideTheMappingIsIgnored) {
  TouchAll();
  file_->DropPagesAround(PageAt(kPages - 1), page_ + 1);  // runs past the end
  file_->DropPagesAround(bytes_.data(), 10);              // another buffer
  file_->DropPagesAround(PageAt(2), 0);                   // empty
  EXPECT_EQ(ResidentPages(), AllBut({}));
}

}  // namespace
}  // namespace plexus

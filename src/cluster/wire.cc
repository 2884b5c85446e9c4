#include "cluster/wire.h"

namespace plexus::cluster {

Status ByteReader::Short(const char* field, uint64_t need) const {
  return Status::Errorf("cluster", "{}: field '{}' needs {} bytes but only {} are left", what_, field, need, left());
}

Status ByteReader::Raw(const char* field, void* p, size_t n) {
  if (n > left()) return Short(field, n);
  std::memcpy(p, in_.data() + pos_, n);
  pos_ += n;
  return Status::Ok();
}

Status ByteReader::Str(const char* field, std::string* s) {
  uint64_t n = 0;
  PLEXUS_RETURN_IF_ERROR(U64(field, &n));
  if (n > left()) return Short(field, n);
  s->assign(reinterpret_cast<const char*>(in_.data() + pos_), static_cast<size_t>(n));
  pos_ += static_cast<size_t>(n);
  return Status::Ok();
}

Status ByteReader::Bytes(const char* field, std::vector<uint8_t>* b) {
  uint64_t n = 0;
  PLEXUS_RETURN_IF_ERROR(U64(field, &n));
  if (n > left()) return Short(field, n);
  b->assign(in_.data() + pos_, in_.data() + pos_ + n);
  pos_ += static_cast<size_t>(n);
  return Status::Ok();
}

Status ByteReader::Count(const char* field, size_t min_item_bytes, uint64_t* n) {
  PLEXUS_RETURN_IF_ERROR(U64(field, n));
  if (min_item_bytes > 0 && *n > left() / min_item_bytes)
    return Status::Errorf("cluster", "{}: field '{}' claims {} items but only {} bytes are left", what_, field, *n,
                          left());
  return Status::Ok();
}

Status ByteReader::Done() const {
  if (left() != 0) return Status::Errorf("cluster", "{}: {} unexpected trailing bytes", what_, left());
  return Status::Ok();
}

}  // namespace plexus::cluster

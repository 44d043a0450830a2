#include "s2d/model/async_transfer.h"

#include <ATen/ATen.h>
#include <c10/core/impl/VirtualGuardImpl.h>

#include <cstring>

namespace s2d {

namespace {

// The values in a host tensor: pinned where they go on to CUDA (a non-blocking copy needs it).
template <typename T>
at::Tensor host_copy(const std::vector<T>& values, at::ScalarType dtype, bool pinned) {
  at::Tensor host =
      at::empty({static_cast<int64_t>(values.size())}, at::TensorOptions().dtype(dtype).pinned_memory(pinned));
  if (!values.empty()) std::memcpy(host.data_ptr(), values.data(), values.size() * sizeof(T));
  return host;
}

template <typename T>
at::Tensor upload_values(const std::vector<T>& values, at::ScalarType dtype, const c10::Device& device) {
  return upload(host_copy(values, dtype, device.is_cuda()), device);  // pinned already on CUDA
}

template <typename T>
void upload_values_into(const at::Tensor& dst, const std::vector<T>& values, at::ScalarType dtype) {
  TORCH_CHECK(dst.numel() == static_cast<int64_t>(values.size()) && dst.scalar_type() == dtype,
              "upload_into: ", values.size(), " values for a tensor of ", dst.numel(), " ", dst.scalar_type());
  dst.copy_(host_copy(values, dtype, dst.is_cuda()).view(dst.sizes()), /*non_blocking=*/dst.is_cuda());
}

}  // namespace

at::Tensor upload(const at::Tensor& host, const c10::Device& device) {
  if (!device.is_cuda()) return host.to(device);
  at::Tensor pinned =
      host.is_pinned() ? host : at::empty_like(host, at::TensorOptions().pinned_memory(true)).copy_(host);
  return pinned.to(device, /*non_blocking=*/true);
}

void upload_into(const at::Tensor& dst, const std::vector<int64_t>& values) {
  upload_values_into(dst, values, at::kLong);
}

void upload_into(const at::Tensor& dst, const std::vector<float>& values) {
  upload_values_into(dst, values, at::kFloat);
}

at::Tensor upload(const std::vector<int64_t>& values, const c10::Device& device) {
  return upload_values(values, at::kLong, device);
}

at::Tensor upload(const std::vector<int32_t>& values, const c10::Device& device) {
  return upload_values(values, at::kInt, device);
}

at::Tensor upload(const std::vector<float>& values, const c10::Device& device) {
  return upload_values(values, at::kFloat, device);
}

void wait_for_queue(const c10::Device& device) {
  if (device.is_cpu()) return;
  const c10::impl::VirtualGuardImpl guard(device.type());
  c10::Event done(device.type());
  done.record(guard.getStream(device));
  done.synchronize();
}

void Readback::start(const at::Tensor& device_tensor) {
  if (!device_tensor.is_cuda()) {  // synchronous; a copy, since the caller may overwrite the tensor next
    host_ = device_tensor.clone();
    landed_.reset();
    return;
  }
  host_ = at::empty(device_tensor.sizes(), device_tensor.options().device(at::kCPU).pinned_memory(true));
  host_.copy_(device_tensor, /*non_blocking=*/true);
  const c10::impl::VirtualGuardImpl guard(device_tensor.device().type());
  landed_.emplace(device_tensor.device().type());
  landed_->record(guard.getStream(device_tensor.device()));
}

const at::Tensor& Readback::wait() {
  if (landed_) {
    landed_->synchronize();
    landed_.reset();
  }
  return host_;
}

}  // namespace s2d

/**
 * The containerd sandbox runtime: {@link dev.extend.containerd.ContainerdRuntime}, found through
 * {@link dev.extend.containerd.ContainerdRuntimeProvider} when containerd answers.
 *
 * <p>It speaks containerd's gRPC API (Containers, Tasks, Events, Version) over the daemon's Unix
 * socket with its own minimal protocol files, and needs no image registry or snapshotter: every
 * sandbox runs from one read-only root filesystem directory. By default that directory is
 * assembled from the host's {@code node} binary; see {@link
 * dev.extend.containerd.ContainerdRuntime.Builder#rootfs} to use another one (e.g. a Debian tree
 * made with {@code debootstrap}). The module's {@code README.md} lists what such a tree needs.
 */
package dev.extend.containerd;

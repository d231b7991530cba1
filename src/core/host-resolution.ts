// Placeholder until the plugins issue: makes `image-sharing-service` resolve to this host's own copy.
export function installHostResolution(): void {}

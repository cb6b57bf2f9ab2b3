"""Local APNs, FCM, Web Push and SMS servers with fault injection."""

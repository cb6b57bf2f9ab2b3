"""Client transports to APNs, FCM, Web Push services and SMS gateways."""

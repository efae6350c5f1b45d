"""Delivery: the durable outbox of everything sent to citizens and staff, and job leases."""

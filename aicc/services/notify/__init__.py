"""Notifications: channels per user and per project, events written in their cause's
transaction (a transactional outbox), their delivery by mail, signed webhook and the WeCom,
DingTalk and Feishu bots, retried with backoff by the `notify` loop step, and each user's inbox."""

export { createMessagingProvider, messagingProvider, parseSubscriptions, reservedBy } from './provider.ts';
export type { BrokerMessage, MessageDelivery } from './provider.ts';

/** The subscription tables of migration 0007, fully qualified in database `db`. */
export function subscriptionTables(db: string) {
  return {
    subscriptions: `${db}.subscriptions`,
    deliveries: `${db}.webhook_deliveries`,
    attempts: `${db}.webhook_attempts`,
  } as const;
}

export type SubscriptionTables = ReturnType<typeof subscriptionTables>;

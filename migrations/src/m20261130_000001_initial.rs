//! The initial schema: customers, departments, agents, tickets, messages, attachments,
//! inbound receipts, the outbox, mailbox state, ticket events, sessions and canned responses.
//! Room is left for what comes next: due times on tickets, leases on outbox rows.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000001_initial"
    }
}

fn ts(name: &'static str) -> ColumnDef {
    timestamp_with_time_zone(name)
}

fn ts_null(name: &'static str) -> ColumnDef {
    timestamp_with_time_zone_null(name)
}

fn fk(
    from_table: &'static str,
    column: &'static str,
    to_table: &'static str,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{from_table}_{column}"))
        .from(from_table, column)
        .to(to_table, "id")
        .on_delete(on_delete)
        .to_owned()
}

fn index(
    table: &'static str,
    name: &str,
    columns: &[&'static str],
    unique: bool,
) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for c in columns {
        stmt.col(*c);
    }
    if unique {
        stmt.unique();
    }
    stmt.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("customers")
                .col(big_pk_auto("id"))
                .col(string_null("name"))
                .col(string_null("email"))
                .col(string_null("phone"))
                .col(string_null("language"))
                .col(string_null("channel_preference"))
                .col(ts_null("email_bounced_at"))
                .col(ts_null("phone_bounced_at"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("customers", "ux_customers_email", &["email"], true))
            .await?;
        m.create_index(index("customers", "ux_customers_phone", &["phone"], true))
            .await?;

        m.create_table(
            Table::create()
                .table("departments")
                .col(big_pk_auto("id"))
                .col(string_uniq("key"))
                .col(string("name"))
                .col(ts("created_at"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("agents")
                .col(big_pk_auto("id"))
                .col(string_uniq("email"))
                .col(string("name"))
                .col(string("password_hash"))
                .col(string("role"))
                .col(string_null("language"))
                .col(boolean("active"))
                .col(ts("created_at"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("tickets")
                .col(big_pk_auto("id"))
                .col(string_uniq("number"))
                .col(text("subject"))
                .col(string("status"))
                .col(string("priority"))
                .col(string("channel"))
                .col(big_integer("customer_id"))
                .col(big_integer_null("department_id"))
                .col(big_integer_null("assignee_id"))
                .col(big_integer_null("follows_ticket_id"))
                .col(text_null("noted_reference"))
                .col(string_null("thread_message_id"))
                .col(ts_null("waiting_since"))
                .col(ts_null("first_response_due_at"))
                .col(ts_null("resolution_due_at"))
                .col(ts_null("closed_at"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .foreign_key(&mut fk(
                    "tickets",
                    "customer_id",
                    "customers",
                    ForeignKeyAction::Restrict,
                ))
                .foreign_key(&mut fk(
                    "tickets",
                    "department_id",
                    "departments",
                    ForeignKeyAction::SetNull,
                ))
                .foreign_key(&mut fk(
                    "tickets",
                    "assignee_id",
                    "agents",
                    ForeignKeyAction::SetNull,
                ))
                .foreign_key(&mut fk(
                    "tickets",
                    "follows_ticket_id",
                    "tickets",
                    ForeignKeyAction::SetNull,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "tickets",
            "ix_tickets_customer",
            &["customer_id", "updated_at"],
            false,
        ))
        .await?;
        m.create_index(index(
            "tickets",
            "ix_tickets_queue",
            &["status", "waiting_since"],
            false,
        ))
        .await?;
        m.create_index(index(
            "tickets",
            "ix_tickets_updated",
            &["updated_at"],
            false,
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("messages")
                .col(big_pk_auto("id"))
                .col(big_integer("ticket_id"))
                .col(string("direction"))
                .col(string("channel"))
                .col(big_integer_null("author_agent_id"))
                .col(string_null("author"))
                .col(text("body_text"))
                .col(text_null("quoted_text"))
                .col(text_null("body_html"))
                .col(string_null("message_id"))
                .col(text_null("in_reply_to"))
                .col(text_null("references"))
                .col(string_null("provider_message_id"))
                .col(blob_null("raw_source"))
                .col(ts("created_at"))
                .foreign_key(&mut fk(
                    "messages",
                    "ticket_id",
                    "tickets",
                    ForeignKeyAction::Cascade,
                ))
                .foreign_key(&mut fk(
                    "messages",
                    "author_agent_id",
                    "agents",
                    ForeignKeyAction::SetNull,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "messages",
            "ix_messages_ticket",
            &["ticket_id", "id"],
            false,
        ))
        .await?;
        m.create_index(index(
            "messages",
            "ix_messages_message_id",
            &["message_id"],
            false,
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("attachments")
                .col(big_pk_auto("id"))
                .col(big_integer("message_id"))
                .col(text("filename"))
                .col(string("content_type"))
                .col(big_integer("size"))
                .col(string("sha256"))
                .col(blob_null("content"))
                .col(boolean("refused"))
                .col(text_null("refused_reason"))
                .col(ts("created_at"))
                .foreign_key(&mut fk(
                    "attachments",
                    "message_id",
                    "messages",
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "attachments",
            "ix_attachments_message",
            &["message_id"],
            false,
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("inbound_receipts")
                .col(big_pk_auto("id"))
                .col(string("source"))
                .col(string("external_id"))
                .col(string("channel"))
                .col(string("outcome"))
                .col(text_null("reason"))
                .col(big_integer_null("ticket_id"))
                .col(big_integer_null("message_id"))
                .col(text_null("sender"))
                .col(text_null("subject"))
                .col(string("content_hash"))
                .col(string_null("fingerprint"))
                .col(text_null("bounced_recipient"))
                .col(string_null("bounce_status"))
                .col(blob_null("raw_source"))
                .col(integer("attempts"))
                .col(ts("received_at"))
                .col(ts("updated_at"))
                .foreign_key(&mut fk(
                    "inbound_receipts",
                    "ticket_id",
                    "tickets",
                    ForeignKeyAction::SetNull,
                ))
                .foreign_key(&mut fk(
                    "inbound_receipts",
                    "message_id",
                    "messages",
                    ForeignKeyAction::SetNull,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "inbound_receipts",
            "ux_receipts_source_external",
            &["source", "external_id"],
            true,
        ))
        .await?;
        m.create_index(index(
            "inbound_receipts",
            "ix_receipts_outcome",
            &["outcome", "id"],
            false,
        ))
        .await?;
        m.create_index(index(
            "inbound_receipts",
            "ix_receipts_content_hash",
            &["content_hash"],
            false,
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("outbox")
                .col(big_pk_auto("id"))
                .col(big_integer("ticket_id"))
                .col(big_integer_null("ticket_message_id"))
                .col(string("channel"))
                .col(string("kind"))
                .col(string("recipient"))
                .col(string("language"))
                .col(text_null("subject"))
                .col(text("body_text"))
                .col(text_null("quoted_text"))
                .col(text_null("body_html"))
                .col(string_null("message_id"))
                .col(text_null("in_reply_to"))
                .col(text_null("references"))
                .col(string("status"))
                .col(integer("attempts"))
                .col(ts("next_attempt_at"))
                .col(ts_null("lease_until"))
                .col(string_null("leased_by"))
                .col(text_null("last_error"))
                .col(string_null("provider_message_id"))
                .col(ts_null("sent_at"))
                .col(ts("created_at"))
                .foreign_key(&mut fk(
                    "outbox",
                    "ticket_id",
                    "tickets",
                    ForeignKeyAction::Cascade,
                ))
                .foreign_key(&mut fk(
                    "outbox",
                    "ticket_message_id",
                    "messages",
                    ForeignKeyAction::SetNull,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "outbox",
            "ix_outbox_due",
            &["status", "next_attempt_at"],
            false,
        ))
        .await?;
        m.create_index(index(
            "outbox",
            "ix_outbox_message_id",
            &["message_id"],
            false,
        ))
        .await?;
        m.create_index(index("outbox", "ix_outbox_ticket", &["ticket_id"], false))
            .await?;

        m.create_table(
            Table::create()
                .table("mailbox_state")
                .col(string("mailbox_key").primary_key())
                .col(big_integer("uid_validity"))
                .col(big_integer("last_uid"))
                .col(ts("updated_at"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("ticket_events")
                .col(big_pk_auto("id"))
                .col(big_integer("ticket_id"))
                .col(string("kind"))
                .col(string_null("old_value"))
                .col(string_null("new_value"))
                .col(big_integer_null("actor_agent_id"))
                .col(string("actor"))
                .col(ts("created_at"))
                .foreign_key(&mut fk(
                    "ticket_events",
                    "ticket_id",
                    "tickets",
                    ForeignKeyAction::Cascade,
                ))
                .foreign_key(&mut fk(
                    "ticket_events",
                    "actor_agent_id",
                    "agents",
                    ForeignKeyAction::SetNull,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "ticket_events",
            "ix_ticket_events_ticket",
            &["ticket_id", "id"],
            false,
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("sessions")
                .col(string("id").primary_key())
                .col(big_integer("agent_id"))
                .col(string("csrf_token"))
                .col(ts("expires_at"))
                .col(ts("created_at"))
                .foreign_key(&mut fk(
                    "sessions",
                    "agent_id",
                    "agents",
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("canned_responses")
                .col(big_pk_auto("id"))
                .col(string("title"))
                .col(text("body"))
                .col(string_null("language"))
                .col(ts("created_at"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "canned_responses",
            "sessions",
            "ticket_events",
            "mailbox_state",
            "outbox",
            "inbound_receipts",
            "attachments",
            "messages",
            "tickets",
            "agents",
            "departments",
            "customers",
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

//! The view's words in English and Persian, and the labels of statuses, priorities, channels
//! and outcomes. One table, so a missing translation is a compile error.

use crate::domain::ticket::Language;

macro_rules! texts {
    ($($key:ident: $en:expr, $fa:expr;)*) => {
        /// Every word the pages print, in one language.
        #[derive(Debug)]
        pub struct Texts { $(pub $key: &'static str,)* }
        pub static EN: Texts = Texts { $($key: $en,)* };
        pub static FA: Texts = Texts { $($key: $fa,)* };
    };
}

texts! {
    app_name: "Peyk support", "پشتیبانی پیک";
    nav_queue: "Queue", "صف تیکت‌ها";
    nav_inbound: "Inbound", "ورودی‌ها";
    nav_outbox: "Outbox", "صندوق ارسال";
    nav_admin: "Admin", "مدیریت";
    logout: "Log out", "خروج";
    language: "Language", "زبان";
    save: "Save", "ذخیره";
    login_title: "Agent login", "ورود کارشناس";
    email: "Email", "ایمیل";
    password: "Password", "گذرواژه";
    login_button: "Log in", "ورود";
    login_failed: "Wrong email or password.", "ایمیل یا گذرواژه نادرست است.";
    login_limited: "Too many attempts. Wait a minute and try again.", "تلاش‌های زیادی انجام شد. یک دقیقه صبر کنید و دوباره تلاش کنید.";
    login_expired: "The login form expired. Try again.", "فرم ورود منقضی شده است. دوباره تلاش کنید.";
    csrf_title: "Form refused", "فرم پذیرفته نشد";
    csrf_text: "This form was not sent from a current Peyk page (its security token is missing or old). Nothing was changed. Go back, reload the page and try again.", "این فرم از یک صفحهٔ معتبر پیک ارسال نشده است (نشانهٔ امنیتی آن موجود نیست یا کهنه است). هیچ تغییری انجام نشد. بازگردید، صفحه را تازه کنید و دوباره تلاش کنید.";
    not_found: "Not found", "پیدا نشد";
    forbidden: "Only administrators can open this page.", "فقط مدیران می‌توانند این صفحه را ببینند.";
    error_title: "Something went wrong", "خطایی رخ داد";
    back: "Back", "بازگشت";
    queue_title: "Ticket queue", "صف تیکت‌ها";
    status: "Status", "وضعیت";
    department: "Department", "دپارتمان";
    priority: "Priority", "اولویت";
    assignee: "Assignee", "کارشناس";
    any: "Any", "همه";
    waiting: "Waiting for us", "در انتظار پاسخ ما";
    all_statuses: "All statuses", "همهٔ وضعیت‌ها";
    mine: "Mine", "مال من";
    unassigned: "Unassigned", "بدون کارشناس";
    everyone: "Everyone", "همه";
    search: "Search", "جستجو";
    search_placeholder: "Ticket number, email, phone or subject", "شمارهٔ تیکت، ایمیل، تلفن یا موضوع";
    filter: "Show", "نمایش";
    number: "Number", "شماره";
    subject: "Subject", "موضوع";
    customer: "Customer", "مشتری";
    channel: "Channel", "کانال";
    waited: "Waiting", "مدت انتظار";
    updated: "Updated", "به‌روزرسانی";
    created: "Created", "ایجاد";
    no_tickets: "No tickets match.", "تیکتی یافت نشد.";
    results: "tickets", "تیکت";
    page: "Page", "صفحه";
    previous: "Previous", "قبلی";
    next: "Next", "بعدی";
    nobody: "Nobody", "هیچ‌کس";
    thread: "Conversation", "گفتگو";
    inbound_message: "Customer", "مشتری";
    outbound_message: "Answer", "پاسخ";
    note_message: "Internal note", "یادداشت داخلی";
    attachments: "Attachments", "پیوست‌ها";
    refused: "refused", "رد شده";
    delivery: "Delivery", "ارسال";
    quoted: "Quoted text", "متن نقل‌قول";
    html_version: "Formatted version (sanitized)", "نسخهٔ قالب‌بندی‌شده (پاک‌سازی‌شده)";
    other_tickets: "Customer's other tickets", "تیکت‌های دیگر این مشتری";
    no_other_tickets: "None.", "ندارد.";
    reply: "Reply", "پاسخ";
    reply_via: "The answer goes out by", "پاسخ ارسال می‌شود از طریق";
    internal_note: "Internal note (the customer does not see it)", "یادداشت داخلی (مشتری آن را نمی‌بیند)";
    send: "Send", "ارسال";
    canned: "Prepared answers", "پاسخ‌های آماده";
    canned_pick: "Insert a prepared answer…", "درج پاسخ آماده…";
    collision: "Someone else answered this ticket after you opened it. Your text was not sent: read the new answer below, then send yours again if it is still needed.", "پس از باز کردن این تیکت، کارشناس دیگری به آن پاسخ داده است. متن شما ارسال نشد: پاسخ جدید را بخوانید و اگر هنوز لازم است دوباره ارسال کنید.";
    send_anyway: "Send anyway", "با این حال ارسال شود";
    update: "Change ticket", "تغییر تیکت";
    apply: "Apply", "اعمال";
    history: "History", "تاریخچه";
    replied: "Your answer is queued for the customer.", "پاسخ شما در صف ارسال به مشتری قرار گرفت.";
    noted: "The internal note is saved.", "یادداشت داخلی ذخیره شد.";
    updated_notice: "The ticket is updated.", "تیکت به‌روزرسانی شد.";
    empty_reply: "The text is empty.", "متن خالی است.";
    no_route: "The customer has no usable address for this channel; the answer is stored but nothing was sent.", "مشتری نشانی قابل استفاده‌ای ندارد؛ پاسخ ذخیره شد اما ارسال نشد.";
    inbound_title: "Inbound messages not ticketed", "پیام‌های ورودی بدون تیکت";
    outcome: "Outcome", "نتیجه";
    reason: "Reason", "علت";
    source: "Source", "منبع";
    sender: "Sender", "فرستنده";
    received: "Received", "دریافت";
    make_ticket: "Make it a ticket", "تبدیل به تیکت";
    retry: "Retry", "تلاش دوباره";
    no_receipts: "Nothing here.", "موردی نیست.";
    made_ticket: "The message is now in a ticket.", "پیام اکنون در یک تیکت است.";
    retried: "The message went through intake again.", "پیام دوباره پردازش شد.";
    outbox_title: "Notifications", "اعلان‌ها";
    recipient: "Recipient", "گیرنده";
    kind: "Kind", "نوع";
    attempts: "Attempts", "تلاش‌ها";
    last_error: "Last error", "آخرین خطا";
    ticket: "Ticket", "تیکت";
    requeued: "The notification is queued again.", "اعلان دوباره در صف قرار گرفت.";
    admin_title: "Administration", "مدیریت";
    agents: "Agents", "کارشناسان";
    name: "Name", "نام";
    role: "Role", "نقش";
    active: "Active", "فعال";
    administrator: "Administrator", "مدیر";
    add_agent: "Add agent", "افزودن کارشناس";
    deactivate: "Deactivate", "غیرفعال‌سازی";
    activate: "Activate", "فعال‌سازی";
    departments: "Departments", "دپارتمان‌ها";
    key: "Key", "کلید";
    add_department: "Add department", "افزودن دپارتمان";
    canned_responses: "Prepared answers", "پاسخ‌های آماده";
    title: "Title", "عنوان";
    body: "Text", "متن";
    add_canned: "Add prepared answer", "افزودن پاسخ آماده";
    delete: "Delete", "حذف";
    both_languages: "Both languages", "هر دو زبان";
    saved: "Saved.", "ذخیره شد.";
    yes: "yes", "بله";
    no: "no", "خیر";
    sla_overdue: "overdue", "دیرکرد";
}

/// The table for `language`.
pub fn texts(language: Language) -> &'static Texts {
    match language {
        Language::Fa => &FA,
        Language::En => &EN,
    }
}

/// How a stored code (status, priority, channel, direction, outcome, outbox status or kind)
/// reads in `language`; unknown codes read as themselves.
pub fn label(code: &str, language: Language) -> String {
    let (en, fa) = match code {
        "open" => ("Open", "باز"),
        "in_progress" => ("In progress", "در حال بررسی"),
        "answered" => ("Answered", "پاسخ داده شده"),
        "closed" => ("Closed", "بسته"),
        "low" => ("Low", "کم"),
        "normal" => ("Normal", "معمولی"),
        "high" => ("High", "زیاد"),
        "urgent" => ("Urgent", "فوری"),
        "email" => ("Email", "ایمیل"),
        "sms" => ("SMS", "پیامک"),
        "web" => ("Web", "وب"),
        "inbound" => ("Customer", "مشتری"),
        "outbound" => ("Answer", "پاسخ"),
        "note" => ("Internal note", "یادداشت داخلی"),
        "new_ticket" => ("New ticket", "تیکت جدید"),
        "reply" => ("Reply", "پاسخ مشتری"),
        "ignored" => ("Ignored", "نادیده گرفته شد"),
        "bounce" => ("Bounce", "برگشتی"),
        "error" => ("Error", "خطا"),
        "autoreply" => ("Automatic reply", "پاسخ خودکار"),
        "list" => ("Mailing list", "فهرست پستی"),
        "own_address" => ("Our own address", "نشانی خود ما"),
        "empty" => ("Empty", "خالی"),
        "held" => ("Held", "نگه‌داشته"),
        "pending" => ("Pending", "در صف"),
        "sent" => ("Sent", "ارسال شد"),
        "failed" => ("Failed", "ناموفق"),
        "dead" => ("Gave up", "رها شد"),
        "ticket_received" => ("Acknowledgement", "اعلام دریافت"),
        "agent_reply" => ("Answer", "پاسخ کارشناس"),
        "ticket_closed" => ("Closed notice", "اعلام بسته شدن"),
        "admin" => ("Administrator", "مدیر"),
        "agent" => ("Agent", "کارشناس"),
        "created" => ("created", "ایجاد شد"),
        "status" => ("status", "وضعیت"),
        "priority" => ("priority", "اولویت"),
        "department" => ("department", "دپارتمان"),
        "assignment" => ("assignee", "کارشناس"),
        "reopened" => ("reopened", "بازگشایی شد"),
        "linked" => ("follows an earlier ticket", "ادامهٔ تیکت قبلی"),
        "customer" => ("Customer", "مشتری"),
        "system" => ("Peyk", "پیک"),
        "fa" => ("Persian", "فارسی"),
        "en" => ("English", "انگلیسی"),
        other => return other.to_string(),
    };
    match language {
        Language::Fa => fa.to_string(),
        Language::En => en.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_the_language_and_pass_unknown_codes_through() {
        assert_eq!(label("open", Language::En), "Open");
        assert_eq!(label("open", Language::Fa), "باز");
        assert_eq!(label("something_new", Language::Fa), "something_new");
        assert_eq!(texts(Language::Fa).send, "ارسال");
    }
}

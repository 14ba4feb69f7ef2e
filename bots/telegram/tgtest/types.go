package tgtest

import "encoding/json"

// Chat is a chat the simulated Telegram knows about. Type is "private", "group" or "supergroup";
// groups and supergroups use negative IDs as Telegram does.
type Chat struct {
	ID    int64
	Type  string
	Title string
}

// User is a person (never a bot) who writes to the bot.
type User struct {
	ID        int64
	Username  string
	FirstName string
}

// Entity is a MessageEntity; offsets and lengths are in UTF-16 code units, as in the Bot API.
type Entity struct {
	Type     string `json:"type"`
	Offset   int    `json:"offset"`
	Length   int    `json:"length"`
	URL      string `json:"url,omitempty"`
	Language string `json:"language,omitempty"`
	User     *wUser `json:"user,omitempty"`
}

// Button is one inline keyboard button as the bot sent it.
type Button struct {
	Text         string `json:"text"`
	CallbackData string `json:"callback_data,omitempty"`
	URL          string `json:"url,omitempty"`
}

// Keyboard is an inline_keyboard reply markup.
type Keyboard struct {
	InlineKeyboard [][]Button `json:"inline_keyboard"`
}

// Message is one thing the bot did to a chat, in the order the server accepted it.
type Message struct {
	Kind      string // "send", "photo", "edit", "markup" (editMessageReplyMarkup) or "delete"
	ID        int64  // message_id the action created or targeted
	ChatID    int64
	Text      string   // text (or caption) after entity parsing, as a user would see it
	Raw       string   // text (or caption) exactly as the bot sent it
	ParseMode string   // parse_mode as sent
	Entities  []Entity // entities parsed from the markup plus auto-detected commands, mentions and URLs
	Markup    *Keyboard
	Photo     []byte // uploaded photo bytes (Kind "photo")
	ReplyTo   int64  // reply_parameters.message_id, if any
}

// CallbackAnswer is one answerCallbackQuery call.
type CallbackAnswer struct {
	QueryID   string
	Text      string
	ShowAlert bool
}

// Stats counts what crossed the API.
type Stats struct {
	Requests         map[string]int // by method name as called, counted on arrival
	Succeeded        map[string]int // by method name, counted once the call's effect is recorded
	TooManyRequests  int            // 429 answers
	Unauthorized     int            // 401 answers
	Faults           int            // injected 5xx or garbage answers
	UpdatesQueued    int            // updates created by the test
	UpdatesDelivered int            // deliveries, counting a re-delivered update again
	UpdatesConfirmed int            // updates confirmed by offset or by a 2xx webhook answer
	Redeliveries     int            // deliveries of an update delivered before
}

// Wire types follow https://core.telegram.org/bots/api field names.

type wUser struct {
	ID                      int64  `json:"id"`
	IsBot                   bool   `json:"is_bot"`
	FirstName               string `json:"first_name"`
	Username                string `json:"username,omitempty"`
	CanJoinGroups           bool   `json:"can_join_groups,omitempty"`
	CanReadAllGroupMessages bool   `json:"can_read_all_group_messages,omitempty"`
	SupportsInlineQueries   *bool  `json:"supports_inline_queries,omitempty"`
}

type wChat struct {
	ID        int64  `json:"id"`
	Type      string `json:"type"`
	Title     string `json:"title,omitempty"`
	Username  string `json:"username,omitempty"`
	FirstName string `json:"first_name,omitempty"`
}

type wPhotoSize struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	FileSize     int    `json:"file_size,omitempty"`
}

type wSticker struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	Type         string `json:"type"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	IsAnimated   bool   `json:"is_animated"`
	IsVideo      bool   `json:"is_video"`
	Emoji        string `json:"emoji,omitempty"`
}

type wMessage struct {
	MessageID       int64        `json:"message_id"`
	From            *wUser       `json:"from,omitempty"`
	Date            int64        `json:"date"`
	Chat            wChat        `json:"chat"`
	EditDate        int64        `json:"edit_date,omitempty"`
	ReplyToMessage  *wMessage    `json:"reply_to_message,omitempty"`
	Text            string       `json:"text,omitempty"`
	Entities        []Entity     `json:"entities,omitempty"`
	Photo           []wPhotoSize `json:"photo,omitempty"`
	Sticker         *wSticker    `json:"sticker,omitempty"`
	Caption         string       `json:"caption,omitempty"`
	CaptionEntities []Entity     `json:"caption_entities,omitempty"`
	ReplyMarkup     *Keyboard    `json:"reply_markup,omitempty"`
}

type wCallbackQuery struct {
	ID           string          `json:"id"`
	From         wUser           `json:"from"`
	Message      json.RawMessage `json:"message,omitempty"`
	ChatInstance string          `json:"chat_instance"`
	Data         string          `json:"data,omitempty"`
}

type wUpdate struct {
	UpdateID      int64           `json:"update_id"`
	Message       *wMessage       `json:"message,omitempty"`
	EditedMessage *wMessage       `json:"edited_message,omitempty"`
	CallbackQuery *wCallbackQuery `json:"callback_query,omitempty"`
}

type wBotCommand struct {
	Command     string `json:"command"`
	Description string `json:"description"`
}

type wWebhookInfo struct {
	URL                  string   `json:"url"`
	HasCustomCertificate bool     `json:"has_custom_certificate"`
	PendingUpdateCount   int      `json:"pending_update_count"`
	LastErrorDate        int64    `json:"last_error_date,omitempty"`
	LastErrorMessage     string   `json:"last_error_message,omitempty"`
	MaxConnections       int      `json:"max_connections,omitempty"`
	AllowedUpdates       []string `json:"allowed_updates,omitempty"`
}

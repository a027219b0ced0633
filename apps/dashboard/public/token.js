// The token prompt, shown when the gateway refuses the socket with 'token required' or 'invalid token'
// (it listens on a non-loopback address and DASHBOARD_TOKEN is set). The token stays in this tab's sessionStorage.
import { useState } from 'preact/hooks';
import { html } from './html.js';

export function TokenPrompt({ error, onToken }) {
  const [token, setToken] = useState('');
  const submit = (event) => {
    event.preventDefault();
    if (token.trim()) onToken(token.trim());
  };
  return html`
    <div class="overlay">
      <form class="panel token" data-testid="token-form" onSubmit=${submit}>
        <h2>Dashboard token</h2>
        <p>This dashboard listens beyond this machine, so it asks for the token it was started with (<code>DASHBOARD_TOKEN</code>).</p>
        <div class="row">
          <input
            class="grow"
            type="password"
            data-testid="token-input"
            placeholder="token"
            autocomplete="current-password"
            value=${token}
            onInput=${(e) => setToken(e.currentTarget.value)}
            autofocus
          />
          <button type="submit" data-testid="token-submit">Connect</button>
        </div>
        <p class="error" role="alert" data-testid="token-error">${error === 'invalid token' ? 'That token is not valid.' : 'A token is required.'}</p>
      </form>
    </div>
  `;
}

"""Full finetuning of an HF-layout BERT on a GLUE task in plain PyTorch: a second, independent
implementation to check that diffprune's trainer learns what PyTorch learns from the same model.
  python3 torch_finetune.py MODEL_DIR ENCODED.json TASK LR STEPS
ENCODED.json comes from encode-glue.mts. Batch 32, Adam (no weight decay), linear decay, clipping 1.0,
dropout 0.1, the first 1,500 dev examples evaluated every 100 steps. Never a project dependency."""
import json, math, struct, sys, random
import numpy as np, torch, torch.nn.functional as F
d, encoded, task, lr, steps = sys.argv[1].rstrip('/') + '/', sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
torch.manual_seed(0); random.seed(0); torch.set_num_threads(1)
cfg=json.load(open(d+'config.json'))
raw=open(d+'model.safetensors','rb').read(); n=struct.unpack('<Q',raw[:8])[0]; hdr=json.loads(raw[8:8+n])
p={}
for k,v in hdr.items():
    if k=='__metadata__': continue
    a,b=v['data_offsets']; p[k]=torch.from_numpy(np.frombuffer(raw[8+n+a:8+n+b],dtype=np.float32).reshape(v['shape']).copy())
H=cfg['hidden_size']; A=cfg['num_attention_heads']; L=cfg['num_hidden_layers']
data=json.load(open(encoded))
reg = task=='stsb'; NL = 1 if reg else (3 if task=='mnli' else 2)
p['classifier.weight']=torch.randn(NL,H)*0.02; p['classifier.bias']=torch.zeros(NL)
p={k:v.requires_grad_(True) for k,v in p.items() if not k.startswith('cls.')}
def batchify(ex):
    T=max(len(e['inputIds']) for e in ex); B=len(ex)
    ids=torch.zeros(B,T,dtype=torch.long); ty=torch.zeros(B,T,dtype=torch.long); m=torch.zeros(B,T)
    for i,e in enumerate(ex):
        t=len(e['inputIds']); ids[i,:t]=torch.tensor(e['inputIds']); ty[i,:t]=torch.tensor(e['tokenTypeIds']); m[i,:t]=1
    y=torch.tensor([e['label'] for e in ex],dtype=torch.float32 if reg else torch.long)
    return ids,ty,m,y
def fwd(ids,ty,m,train):
    B,T=ids.shape; drop=lambda x:F.dropout(x,0.1,train)
    x=F.embedding(ids,p['bert.embeddings.word_embeddings.weight'])+p['bert.embeddings.position_embeddings.weight'][:T]+F.embedding(ty,p['bert.embeddings.token_type_embeddings.weight'])
    x=drop(F.layer_norm(x,(H,),p['bert.embeddings.LayerNorm.weight'],p['bert.embeddings.LayerNorm.bias'],1e-12))
    dh=H//A; bias=(1-m)[:,None,None,:]*-1e9
    for i in range(L):
        l=f'bert.encoder.layer.{i}.'
        lin=lambda t,nm:F.linear(t,p[l+nm+'.weight'],p[l+nm+'.bias'])
        hd=lambda t:t.view(B,T,A,dh).transpose(1,2)
        q,k,v=(hd(lin(x,'attention.self.'+s)) for s in ('query','key','value'))
        sc=q@k.transpose(-1,-2)/math.sqrt(dh)+bias
        c=(drop(sc.softmax(-1))@v).transpose(1,2).reshape(B,T,H)
        x=F.layer_norm(drop(lin(c,'attention.output.dense'))+x,(H,),p[l+'attention.output.LayerNorm.weight'],p[l+'attention.output.LayerNorm.bias'],1e-12)
        h=F.gelu(lin(x,'intermediate.dense'))
        x=F.layer_norm(drop(lin(h,'output.dense'))+x,(H,),p[l+'output.LayerNorm.weight'],p[l+'output.LayerNorm.bias'],1e-12)
    pooled=torch.tanh(F.linear(x[:,0],p['bert.pooler.dense.weight'],p['bert.pooler.dense.bias']))
    return F.linear(drop(pooled),p['classifier.weight'],p['classifier.bias'])
opt=torch.optim.Adam(p.values(),lr=lr); sched=torch.optim.lr_scheduler.LambdaLR(opt,lambda s:max(0,1-s/steps))
tr=data['train']; order=[]
def evaluate():
    preds=[]; ys=[]
    with torch.no_grad():
        for i in range(0,min(1500,len(data['dev'])),64):
            ids,ty,m,y=batchify(data['dev'][i:i+64]); o=fwd(ids,ty,m,False)
            preds+= (o[:,0] if reg else o.argmax(-1)).tolist(); ys+=y.tolist()
    P=np.array(preds); Y=np.array(ys)
    if reg:
        r=lambda a:np.argsort(np.argsort(a)); return float(np.corrcoef(r(P),r(Y))[0,1])
    if task=='cola':
        tp=((P==1)&(Y==1)).sum(); tn=((P==0)&(Y==0)).sum(); fp=((P==1)&(Y==0)).sum(); fn=((P==0)&(Y==1)).sum()
        den=math.sqrt((tp+fp)*(tp+fn)*(tn+fp)*(tn+fn)); return float((tp*tn-fp*fn)/den) if den else 0.0
    if task=='mrpc':
        tp=((P==1)&(Y==1)).sum(); return float(2*tp/(2*tp+((P!=Y)).sum()))
    return float((P==Y).mean())
for s in range(steps):
    if not order: order=list(range(len(tr))); random.shuffle(order)
    b=[tr[order.pop()] for _ in range(32) if order]
    ids,ty,m,y=batchify(b); o=fwd(ids,ty,m,True)
    loss=F.mse_loss(o[:,0],y) if reg else F.cross_entropy(o,y)
    opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(p.values(),1.0); opt.step(); sched.step()
    if (s+1)%100==0: print(s+1, round(loss.item(),3), round(evaluate(),4), flush=True)
